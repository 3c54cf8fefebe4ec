-- Loan products (docs/products.md): the configuration a loan is made under, versioned. A
-- product's row says which version is current and whether it is offered; every change is a new
-- version row, never an update of one, and a loan keeps the code and version it was made under.

CREATE TABLE loan_products (
    product_code VARCHAR(50) PRIMARY KEY,
    loan_type VARCHAR(50) NOT NULL,
    current_version INTEGER NOT NULL,
    active BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT chk_product_code_format CHECK (product_code ~ '^[A-Z][A-Z0-9_-]{0,49}$'),
    CONSTRAINT chk_product_loan_type
        CHECK (loan_type IN ('PERSONAL', 'AUTO', 'MORTGAGE', 'BUSINESS', 'EDUCATION')),
    CONSTRAINT chk_product_current_version CHECK (current_version >= 1)
);

CREATE INDEX idx_loan_products_loan_type ON loan_products(loan_type);

CREATE TABLE loan_product_versions (
    product_code VARCHAR(50) NOT NULL REFERENCES loan_products(product_code),
    version INTEGER NOT NULL,
    name VARCHAR(200) NOT NULL,
    description TEXT,
    loan_type VARCHAR(50) NOT NULL,
    min_amount DECIMAL(15,2) NOT NULL,
    max_amount DECIMAL(15,2) NOT NULL,
    min_rate DECIMAL(5,4) NOT NULL,
    max_rate DECIMAL(5,4) NOT NULL,
    installment_counts INTEGER[] NOT NULL,
    interest_methods VARCHAR(30)[] NOT NULL,
    default_interest_method VARCHAR(30) NOT NULL,
    early_discount_rate DECIMAL(7,6) NOT NULL,
    late_penalty_rate DECIMAL(7,6) NOT NULL,
    penalty_grace_days INTEGER NOT NULL,
    penalty_cap_ratio DECIMAL(7,6),
    processing_fees JSONB NOT NULL DEFAULT '{}',
    allocation_order VARCHAR(40) NOT NULL,
    min_credit_score INTEGER NOT NULL,
    max_installment_to_income DECIMAL(5,4) NOT NULL,
    allowed_risk_levels VARCHAR(20)[] NOT NULL,
    delinquency_buckets JSONB NOT NULL,
    active BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    created_by VARCHAR(255) NOT NULL,
    PRIMARY KEY (product_code, version),
    CONSTRAINT chk_pv_version CHECK (version >= 1),
    CONSTRAINT chk_pv_name CHECK (length(btrim(name)) > 0),
    CONSTRAINT chk_pv_loan_type
        CHECK (loan_type IN ('PERSONAL', 'AUTO', 'MORTGAGE', 'BUSINESS', 'EDUCATION')),
    CONSTRAINT chk_pv_amounts CHECK (min_amount > 0 AND min_amount <= max_amount),
    CONSTRAINT chk_pv_rates
        CHECK (min_rate >= 0.001 AND max_rate <= 0.5 AND min_rate <= max_rate),
    CONSTRAINT chk_pv_installment_counts
        CHECK (cardinality(installment_counts) >= 1
               AND 1 <= ALL(installment_counts) AND 480 >= ALL(installment_counts)),
    CONSTRAINT chk_pv_interest_methods
        CHECK (cardinality(interest_methods) >= 1
               AND interest_methods <@ ARRAY['DECLINING_BALANCE', 'FLAT']::VARCHAR(30)[]
               AND default_interest_method = ANY(interest_methods)),
    CONSTRAINT chk_pv_daily_rates
        CHECK (early_discount_rate BETWEEN 0 AND 0.01 AND late_penalty_rate BETWEEN 0 AND 0.01),
    CONSTRAINT chk_pv_grace CHECK (penalty_grace_days BETWEEN 0 AND 365),
    CONSTRAINT chk_pv_penalty_cap
        CHECK (penalty_cap_ratio IS NULL OR penalty_cap_ratio BETWEEN 0 AND 1),
    CONSTRAINT chk_pv_processing_fees CHECK (jsonb_typeof(processing_fees) = 'object'),
    CONSTRAINT chk_pv_allocation_order
        CHECK (allocation_order IN ('INTEREST_PRINCIPAL_PENALTY', 'PENALTY_INTEREST_PRINCIPAL',
                                    'PRINCIPAL_INTEREST_PENALTY')),
    CONSTRAINT chk_pv_credit_score CHECK (min_credit_score BETWEEN 300 AND 850),
    CONSTRAINT chk_pv_installment_to_income
        CHECK (max_installment_to_income > 0 AND max_installment_to_income <= 1),
    CONSTRAINT chk_pv_risk_levels
        CHECK (allowed_risk_levels <@ ARRAY['LOW', 'MEDIUM', 'HIGH']::VARCHAR(20)[]),
    CONSTRAINT chk_pv_buckets
        CHECK (jsonb_typeof(delinquency_buckets) = 'array'
               AND jsonb_array_length(delinquency_buckets) >= 1)
);

-- The default products: one per loan type, coded as the type, with exactly the rules ELMS had
-- before products (elms.loan.products.default_products), so loans made before keep theirs.
INSERT INTO loan_products (product_code, loan_type, current_version, active)
SELECT t, t, 1, TRUE
FROM unnest(ARRAY['PERSONAL', 'AUTO', 'MORTGAGE', 'BUSINESS', 'EDUCATION']) AS t;

INSERT INTO loan_product_versions (
    product_code, version, name, description, loan_type, min_amount, max_amount, min_rate,
    max_rate, installment_counts, interest_methods, default_interest_method,
    early_discount_rate, late_penalty_rate, penalty_grace_days, penalty_cap_ratio,
    processing_fees, allocation_order, min_credit_score, max_installment_to_income,
    allowed_risk_levels, delinquency_buckets, active, created_by)
SELECT t, 1, initcap(t) || ' loan (standard terms)', NULL, t, 0.01, 9999999999999.99, 0.1,
       0.5, ARRAY[6, 9, 12, 24], ARRAY['DECLINING_BALANCE', 'FLAT'], 'DECLINING_BALANCE',
       0.001, 0.001, 0, NULL, '{}', 'INTEREST_PRINCIPAL_PENALTY', 700, 0.40,
       ARRAY['LOW', 'MEDIUM'],
       '[{"name": "CURRENT", "minDays": 0}, {"name": "DPD_1_30", "minDays": 1},
         {"name": "DPD_31_60", "minDays": 31}, {"name": "DPD_61_90", "minDays": 61},
         {"name": "DPD_91_180", "minDays": 91}, {"name": "DPD_180_PLUS", "minDays": 181}]',
       TRUE, 'migration'
FROM unnest(ARRAY['PERSONAL', 'AUTO', 'MORTGAGE', 'BUSINESS', 'EDUCATION']) AS t;

-- A deployment that had lowered its minimum rate made loans below 0.1: the standard product's
-- first version takes them in, so every existing loan is within the version it is recorded under.
UPDATE loan_product_versions v
SET min_rate = LEAST(v.min_rate, (SELECT min(l.interest_rate) FROM loans l
                                  WHERE l.loan_type = v.loan_type));

-- A version is what loans were made under: it is never changed or removed (a change of a
-- product is a new version). The services also keep versions they have read in memory.
CREATE FUNCTION refuse_product_version_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'loan product versions are never changed or removed (%)', TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$;
CREATE TRIGGER trg_product_versions_immutable
    BEFORE UPDATE OR DELETE ON loan_product_versions
    FOR EACH ROW EXECUTE FUNCTION refuse_product_version_change();

ALTER TABLE loan_products ADD CONSTRAINT fk_product_current_version
    FOREIGN KEY (product_code, current_version)
    REFERENCES loan_product_versions(product_code, version) DEFERRABLE INITIALLY DEFERRED;

-- A loan is made under one product version and keeps it. Loans made before products were made
-- under their type's default product, version 1.
ALTER TABLE loans ADD COLUMN product_code VARCHAR(50);
ALTER TABLE loans ADD COLUMN product_version INTEGER;
UPDATE loans SET product_code = loan_type, product_version = 1;
ALTER TABLE loans ALTER COLUMN product_code SET NOT NULL;
ALTER TABLE loans ALTER COLUMN product_version SET NOT NULL;
ALTER TABLE loans ADD CONSTRAINT fk_loans_product_version
    FOREIGN KEY (product_code, product_version)
    REFERENCES loan_product_versions(product_code, version);
CREATE INDEX idx_loans_product ON loans(product_code, product_version);

-- The counts a loan may have are its product's (a 36-month product, say); the table keeps only
-- the bound every product is held to.
ALTER TABLE loans DROP CONSTRAINT chk_installment_count_valid;
ALTER TABLE loans ADD CONSTRAINT chk_installment_count_valid
    CHECK (installment_count BETWEEN 1 AND 480);

-- What each installment has been paid of its principal and of its interest, kept apart: a
-- product may pay principal before interest (allocationOrder), so neither can be worked out
-- from the remaining amount any more. Rows paid before were paid interest first.
ALTER TABLE loan_installments ADD COLUMN interest_paid DECIMAL(15,2) NOT NULL DEFAULT 0.00;
ALTER TABLE loan_installments ADD COLUMN principal_paid DECIMAL(15,2) NOT NULL DEFAULT 0.00;
UPDATE loan_installments
SET interest_paid = LEAST(interest_amount, total_amount - COALESCE(remaining_amount, total_amount)),
    principal_paid = (total_amount - COALESCE(remaining_amount, total_amount))
                     - LEAST(interest_amount, total_amount - COALESCE(remaining_amount, total_amount))
WHERE remaining_amount IS NOT NULL AND remaining_amount <> total_amount;
ALTER TABLE loan_installments ADD CONSTRAINT chk_installment_parts_paid
    CHECK (interest_paid BETWEEN 0 AND interest_amount
           AND principal_paid BETWEEN 0 AND principal_amount
           AND COALESCE(remaining_amount, total_amount)
               = total_amount - principal_paid - interest_paid);
