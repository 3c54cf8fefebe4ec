-- Additions to the spec's loan_db (docs/database.md).

-- The schedule's method is part of the loan: FLAT and DECLINING_BALANCE split principal and
-- interest differently, and the spec's loans table has no column for it.
ALTER TABLE loans ADD COLUMN interest_method VARCHAR(30) NOT NULL DEFAULT 'DECLINING_BALANCE';

-- One loan per saga: a repeated CREATE_LOAN step finds the loan its first attempt made.
CREATE UNIQUE INDEX uq_loans_saga_id ON loans(saga_id) WHERE saga_id IS NOT NULL;

-- Payments applied to a loan, one row per payment: the apply-payment call is idempotent by
-- payment id, and the loan's paid amounts can be traced to the payments that paid them.
CREATE TABLE loan_payment_applications (
    payment_id VARCHAR(255) PRIMARY KEY,
    loan_id VARCHAR(255) NOT NULL REFERENCES loans(loan_id) ON DELETE CASCADE,
    applied_at TIMESTAMP NOT NULL,
    paid_date TIMESTAMP NOT NULL,
    principal_paid DECIMAL(15,2) NOT NULL,
    interest_paid DECIMAL(15,2) NOT NULL,
    penalty_paid DECIMAL(15,2) NOT NULL,
    discount_applied DECIMAL(15,2) NOT NULL,
    amount_paid DECIMAL(15,2) NOT NULL,
    result JSONB NOT NULL
);

CREATE INDEX idx_loan_payment_applications_loan_id ON loan_payment_applications(loan_id);

ALTER TABLE loan_installments ADD CONSTRAINT chk_installment_remaining_valid
    CHECK (remaining_amount IS NULL OR (remaining_amount >= 0 AND remaining_amount <= total_amount));
