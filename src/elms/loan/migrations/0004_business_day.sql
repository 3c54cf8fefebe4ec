-- The business day (docs/business-day.md): one business date, close of business (COB) for each
-- day, delinquency, and late penalties kept as balances.

-- The business date: one row. `target_date` is where an administrator asked it to go (manual
-- mode); close of business runs for each day from `business_date` up to the day before it.
CREATE TABLE business_date (
    singleton BOOLEAN PRIMARY KEY DEFAULT TRUE,
    business_date DATE NOT NULL,
    target_date DATE NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    updated_by VARCHAR(100) NOT NULL,
    CONSTRAINT chk_business_date_single CHECK (singleton),
    CONSTRAINT chk_business_date_target CHECK (target_date >= business_date)
);

-- One row per business day closed. A run that stops half way (a crash) stays RUNNING and is
-- resumed from `cursor_loan_id` (the last loan done, in loan id order, written in the same
-- transaction as that loan's batch), never started again.
CREATE TABLE cob_runs (
    run_id VARCHAR(50) PRIMARY KEY,
    business_date DATE NOT NULL,
    status VARCHAR(20) NOT NULL,
    triggered_by VARCHAR(100) NOT NULL,
    started_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP,
    resumed_count INTEGER NOT NULL DEFAULT 0,
    cursor_loan_id VARCHAR(255),
    batches INTEGER NOT NULL DEFAULT 0,
    loans_processed INTEGER NOT NULL DEFAULT 0,
    installments_overdue INTEGER NOT NULL DEFAULT 0,
    bucket_changes INTEGER NOT NULL DEFAULT 0,
    CONSTRAINT chk_cob_status CHECK (status IN ('RUNNING', 'COMPLETED')),
    CONSTRAINT chk_cob_finished CHECK ((status = 'COMPLETED') = (finished_at IS NOT NULL)),
    CONSTRAINT chk_cob_times CHECK (finished_at IS NULL OR finished_at >= started_at),
    CONSTRAINT chk_cob_counts CHECK (resumed_count >= 0 AND batches >= 0 AND loans_processed >= 0
        AND installments_overdue >= 0 AND bucket_changes >= 0)
);
-- A day is closed once; and one close runs at a time.
CREATE UNIQUE INDEX uq_cob_runs_business_date ON cob_runs(business_date);
CREATE UNIQUE INDEX uq_cob_runs_one_running ON cob_runs((TRUE)) WHERE status = 'RUNNING';

-- A loan's delinquency. Days past due are a subtraction, never rewritten day by day: DPD on D is
-- D − oldest_unpaid_due_date (when that is before D). The bucket and non-performing flag are as
-- of the last close of business that changed them (`delinquency_as_of`).
ALTER TABLE loans ADD COLUMN oldest_unpaid_due_date DATE;
ALTER TABLE loans ADD COLUMN delinquency_bucket VARCHAR(30) NOT NULL DEFAULT 'CURRENT';
ALTER TABLE loans ADD COLUMN non_performing BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE loans ADD COLUMN days_past_due INTEGER NOT NULL DEFAULT 0;
ALTER TABLE loans ADD COLUMN delinquency_as_of DATE;
-- Whether the recorded bucket is a late one (not the product's first) or non-performing: what
-- close of business must look at even once nothing is past due any more.
ALTER TABLE loans ADD COLUMN in_arrears BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE loans ADD CONSTRAINT chk_loans_days_past_due CHECK (days_past_due >= 0);
ALTER TABLE loans ADD CONSTRAINT chk_loans_bucket_name
    CHECK (length(btrim(delinquency_bucket)) BETWEEN 1 AND 30);
ALTER TABLE loans ADD CONSTRAINT chk_loans_delinquency_dated
    CHECK (delinquency_as_of IS NOT NULL OR (days_past_due = 0 AND NOT non_performing));
ALTER TABLE loans ADD CONSTRAINT chk_loans_non_performing_in_arrears
    CHECK (in_arrears OR NOT non_performing);

-- A loan starts in its product's first bucket (loans not past due).
UPDATE loans l SET delinquency_bucket = (
    SELECT b->>'name' FROM loan_product_versions v, jsonb_array_elements(v.delinquency_buckets) b
    WHERE v.product_code = l.product_code AND v.version = l.product_version
    ORDER BY (b->>'minDays')::int LIMIT 1);

UPDATE loans l SET oldest_unpaid_due_date = (
    SELECT min(i.due_date) FROM loan_installments i
    WHERE i.loan_id = l.loan_id AND i.status <> 'PAID');


-- Close of business walks the active loans in id order and needs only those late, due, or not
-- CURRENT; this keeps the walk off the rest of the table.
CREATE INDEX idx_loans_active_by_id ON loans(loan_id) WHERE status = 'ACTIVE';

-- Each move of a loan between buckets (or in or out of non-performing), at most one per loan per
-- business day: a resumed close can never record a loan's day twice.
CREATE TABLE loan_delinquency_history (
    history_id BIGSERIAL PRIMARY KEY,
    loan_id VARCHAR(255) NOT NULL REFERENCES loans(loan_id) ON DELETE CASCADE,
    business_date DATE NOT NULL,
    previous_bucket VARCHAR(30) NOT NULL,
    bucket VARCHAR(30) NOT NULL,
    days_past_due INTEGER NOT NULL,
    previous_non_performing BOOLEAN NOT NULL,
    non_performing BOOLEAN NOT NULL,
    oldest_unpaid_due_date DATE,
    cob_run_id VARCHAR(50) NOT NULL REFERENCES cob_runs(run_id),
    created_at TIMESTAMP NOT NULL,
    CONSTRAINT chk_ldh_days CHECK (days_past_due >= 0),
    CONSTRAINT chk_ldh_moved
        CHECK (bucket <> previous_bucket OR non_performing <> previous_non_performing),
    CONSTRAINT uq_ldh_loan_day UNIQUE (loan_id, business_date)
);

-- An installment's late penalty as a balance: what accrued up to `penalty_frozen_on`, rounded
-- to the cent when frozen and neither paid nor waived yet (`penalty_outstanding`); accrual goes
-- on from that date on what is left unpaid. `penalty_applied` (the spec's) is the penalty paid;
-- `penalty_waived`, what officers waived.
ALTER TABLE loan_installments ADD COLUMN penalty_outstanding DECIMAL(15,2) NOT NULL DEFAULT 0.00;
ALTER TABLE loan_installments ADD COLUMN penalty_frozen_on DATE;
ALTER TABLE loan_installments ADD COLUMN penalty_waived DECIMAL(15,2) NOT NULL DEFAULT 0.00;

-- Open installments that paid some penalty already (a penalty-first product): that penalty paid
-- what had accrued up to the payment, so accrual starts again from its date. (Before balances the
-- penalty paid was subtracted from the whole; without this it would be charged twice.) Any of
-- the old penalty left unpaid on that date is forgiven: never more, never twice.
UPDATE loan_installments
SET penalty_frozen_on = paid_date::date
WHERE status <> 'PAID' AND penalty_applied > 0 AND paid_date IS NOT NULL
  AND paid_date::date > due_date;
ALTER TABLE loan_installments ADD CONSTRAINT chk_installment_penalty_balance
    CHECK (penalty_outstanding >= 0 AND penalty_waived >= 0 AND penalty_applied >= 0);
-- A PAID installment owes nothing: no principal, no interest, no penalty.
ALTER TABLE loan_installments ADD CONSTRAINT chk_installment_paid_owes_nothing
    CHECK (status <> 'PAID' OR (COALESCE(remaining_amount, total_amount) = 0
                                AND penalty_outstanding = 0));
-- Marking installments OVERDUE finds the unpaid ones due by a date without a scan of them all.
CREATE INDEX idx_loan_installments_unpaid_due ON loan_installments(loan_id, due_date)
    WHERE status IN ('PENDING', 'PARTIALLY_PAID');

-- Penalty waived, who waived it and why.
CREATE TABLE loan_penalty_waivers (
    waiver_id BIGSERIAL PRIMARY KEY,
    loan_id VARCHAR(255) NOT NULL REFERENCES loans(loan_id) ON DELETE CASCADE,
    installment_number INTEGER NOT NULL,
    amount DECIMAL(15,2) NOT NULL,
    reason VARCHAR(500) NOT NULL,
    waived_by VARCHAR(100) NOT NULL,
    business_date DATE NOT NULL,
    created_at TIMESTAMP NOT NULL,
    CONSTRAINT chk_waiver_amount CHECK (amount > 0),
    CONSTRAINT chk_waiver_reason CHECK (length(btrim(reason)) > 0),
    CONSTRAINT fk_waiver_installment FOREIGN KEY (loan_id, installment_number)
        REFERENCES loan_installments(loan_id, installment_number)
);
CREATE INDEX idx_loan_penalty_waivers_loan ON loan_penalty_waivers(loan_id);

-- Paid-off loans still recorded in a late bucket: close of business moves them back.
CREATE INDEX idx_loans_closed_in_arrears ON loans(loan_id)
    WHERE status <> 'ACTIVE' AND in_arrears;
