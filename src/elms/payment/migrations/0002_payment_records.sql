-- Additions to the spec's payment_db (docs/database.md).

-- What the customer offered (payment_amount is what the allocation took), whether the partial
-- mode was asked for, the loan version the allocation was calculated against (the loan service
-- refuses the payment if the loan changed since), and the loan's outstanding principal then.
ALTER TABLE payments ADD COLUMN offered_amount DECIMAL(15,2);
ALTER TABLE payments ADD COLUMN is_partial_payment BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE payments ADD COLUMN notes TEXT;
ALTER TABLE payments ADD COLUMN loan_version INTEGER;
ALTER TABLE payments ADD COLUMN outstanding_before DECIMAL(15,2);

-- api.md §4: paymentReference is unique per loan. A FAILED payment gives its reference back,
-- so the customer can pay again under the same reference.
CREATE UNIQUE INDEX uq_payments_loan_reference ON payments(loan_id, payment_reference)
    WHERE payment_reference IS NOT NULL AND status <> 'FAILED';

-- The calculation rows of a payment (type PAYMENT) name it; simulations (type SIMULATION) do not.
ALTER TABLE payment_calculations ADD COLUMN payment_id VARCHAR(255);
CREATE INDEX idx_payment_calculations_payment_id ON payment_calculations(payment_id);
