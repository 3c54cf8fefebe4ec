-- A payment's kind: a scheduled (REGULAR) payment, or one that pays the loan off (PAYOFF), whose
-- installment rows record the interest it waived (docs/servicing.md).
ALTER TABLE payments ADD COLUMN payment_type VARCHAR(20) NOT NULL DEFAULT 'REGULAR';
ALTER TABLE payments ADD CONSTRAINT chk_payment_type CHECK (payment_type IN ('REGULAR', 'PAYOFF'));
ALTER TABLE payment_installments ADD COLUMN interest_waived DECIMAL(15,2) NOT NULL DEFAULT 0.00;
ALTER TABLE payment_installments ADD CONSTRAINT chk_payment_interest_waived
    CHECK (interest_waived >= 0);
