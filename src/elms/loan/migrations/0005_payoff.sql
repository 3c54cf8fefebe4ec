-- Paying a loan off (docs/servicing.md): the interest of periods not yet begun is waived, and
-- the installment records how much. An installment's parts add up with it.
ALTER TABLE loan_installments ADD COLUMN interest_waived DECIMAL(15,2) NOT NULL DEFAULT 0.00;
ALTER TABLE loan_installments DROP CONSTRAINT chk_installment_parts_paid;
ALTER TABLE loan_installments ADD CONSTRAINT chk_installment_parts_paid
    CHECK (interest_paid >= 0 AND interest_waived >= 0
           AND interest_paid + interest_waived <= interest_amount
           AND principal_paid BETWEEN 0 AND principal_amount
           AND COALESCE(remaining_amount, total_amount)
               = total_amount - principal_paid - interest_paid - interest_waived);
