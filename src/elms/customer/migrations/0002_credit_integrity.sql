-- Rules of api.md §2 that the database enforces as well as the code.

-- A customer with addresses has exactly one primary address.
CREATE UNIQUE INDEX uq_customer_addresses_one_primary
    ON customer_addresses(customer_id) WHERE is_primary;

-- Credit restore is idempotent by reference: one CREDIT_RESTORED row per payment.
CREATE UNIQUE INDEX uq_credit_history_restore_reference
    ON credit_history(customer_id, reference_id) WHERE transaction_type = 'CREDIT_RESTORED';

ALTER TABLE customers ADD CONSTRAINT chk_used_credit_non_negative
    CHECK (used_credit >= 0);

-- The expiry worker looks for active reservations past their expiry.
CREATE INDEX idx_credit_reservations_active_expiry
    ON credit_reservations(expires_at) WHERE status = 'ACTIVE';
