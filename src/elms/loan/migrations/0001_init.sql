-- loan_db: the tables of shared/spec/database-schema.md, applied as written.
-- The runner sets search_path to loan_db, so names stay unqualified as in the spec.

CREATE TABLE loans (
    loan_id VARCHAR(255) PRIMARY KEY,
    application_id VARCHAR(255) UNIQUE,
    customer_id VARCHAR(255) NOT NULL,
    loan_amount DECIMAL(15,2) NOT NULL,
    outstanding_amount DECIMAL(15,2) NOT NULL,
    interest_rate DECIMAL(5,4) NOT NULL,
    installment_count INTEGER NOT NULL,
    installment_amount DECIMAL(15,2) NOT NULL,
    total_repayment_amount DECIMAL(15,2) NOT NULL,
    loan_type VARCHAR(50) NOT NULL,
    purpose VARCHAR(100),
    status VARCHAR(50) DEFAULT 'PENDING_APPROVAL',
    application_date TIMESTAMP NOT NULL,
    approval_date TIMESTAMP,
    disbursement_date TIMESTAMP,
    first_installment_date DATE,
    last_installment_date DATE,
    maturity_date DATE,
    collateral_type VARCHAR(50) DEFAULT 'NONE',
    collateral_value DECIMAL(15,2) DEFAULT 0.00,
    employment_verification_status VARCHAR(50) DEFAULT 'PENDING',
    credit_verification_status VARCHAR(50) DEFAULT 'PENDING',
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    version INTEGER DEFAULT 1,
    saga_id VARCHAR(255)
);

-- Indexes
CREATE INDEX idx_loans_customer_id ON loans(customer_id);
CREATE INDEX idx_loans_status ON loans(status);
CREATE INDEX idx_loans_application_date ON loans(application_date);
CREATE INDEX idx_loans_disbursement_date ON loans(disbursement_date);
CREATE INDEX idx_loans_maturity_date ON loans(maturity_date);
CREATE INDEX idx_loans_saga_id ON loans(saga_id);

-- Constraints
ALTER TABLE loans ADD CONSTRAINT chk_loan_amount_positive 
    CHECK (loan_amount > 0);
ALTER TABLE loans ADD CONSTRAINT chk_interest_rate_range 
    CHECK (interest_rate >= 0.001 AND interest_rate <= 0.5);
ALTER TABLE loans ADD CONSTRAINT chk_installment_count_valid 
    CHECK (installment_count IN (6, 9, 12, 24));
ALTER TABLE loans ADD CONSTRAINT chk_outstanding_amount_valid 
    CHECK (outstanding_amount >= 0 AND outstanding_amount <= loan_amount);

CREATE TABLE loan_installments (
    installment_id SERIAL PRIMARY KEY,
    loan_id VARCHAR(255) NOT NULL,
    installment_number INTEGER NOT NULL,
    due_date DATE NOT NULL,
    principal_amount DECIMAL(15,2) NOT NULL,
    interest_amount DECIMAL(15,2) NOT NULL,
    total_amount DECIMAL(15,2) NOT NULL,
    status VARCHAR(50) DEFAULT 'PENDING',
    paid_date TIMESTAMP,
    paid_amount DECIMAL(15,2) DEFAULT 0.00,
    discount_applied DECIMAL(15,2) DEFAULT 0.00,
    penalty_applied DECIMAL(15,2) DEFAULT 0.00,
    remaining_amount DECIMAL(15,2),
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    FOREIGN KEY (loan_id) REFERENCES loans(loan_id) ON DELETE CASCADE,
    UNIQUE(loan_id, installment_number)
);

CREATE INDEX idx_loan_installments_loan_id ON loan_installments(loan_id);
CREATE INDEX idx_loan_installments_due_date ON loan_installments(due_date);
CREATE INDEX idx_loan_installments_status ON loan_installments(status);

-- Constraints
ALTER TABLE loan_installments ADD CONSTRAINT chk_installment_number_positive 
    CHECK (installment_number > 0);
ALTER TABLE loan_installments ADD CONSTRAINT chk_principal_amount_positive 
    CHECK (principal_amount >= 0);
ALTER TABLE loan_installments ADD CONSTRAINT chk_total_amount_calculation 
    CHECK (total_amount = principal_amount + interest_amount);

CREATE TABLE loan_applications (
    application_id VARCHAR(255) PRIMARY KEY,
    customer_id VARCHAR(255) NOT NULL,
    requested_amount DECIMAL(15,2) NOT NULL,
    requested_term INTEGER NOT NULL,
    loan_type VARCHAR(50) NOT NULL,
    purpose VARCHAR(100),
    employment_details JSONB,
    income_verification JSONB,
    collateral_details JSONB,
    application_status VARCHAR(50) DEFAULT 'SUBMITTED',
    submitted_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    reviewed_at TIMESTAMP,
    reviewer_id VARCHAR(255),
    review_notes TEXT,
    approval_conditions JSONB,
    rejection_reason TEXT,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);

CREATE INDEX idx_loan_applications_customer_id ON loan_applications(customer_id);
CREATE INDEX idx_loan_applications_status ON loan_applications(application_status);
CREATE INDEX idx_loan_applications_submitted_at ON loan_applications(submitted_at);

CREATE TABLE loan_documents (
    document_id SERIAL PRIMARY KEY,
    loan_id VARCHAR(255) NOT NULL,
    document_type VARCHAR(100) NOT NULL,
    document_name VARCHAR(255) NOT NULL,
    file_path VARCHAR(500),
    file_size BIGINT,
    mime_type VARCHAR(100),
    uploaded_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    uploaded_by VARCHAR(255),
    verification_status VARCHAR(50) DEFAULT 'PENDING',
    verified_at TIMESTAMP,
    verified_by VARCHAR(255),
    FOREIGN KEY (loan_id) REFERENCES loans(loan_id) ON DELETE CASCADE
);

CREATE INDEX idx_loan_documents_loan_id ON loan_documents(loan_id);
CREATE INDEX idx_loan_documents_type ON loan_documents(document_type);
CREATE INDEX idx_loan_documents_verification_status ON loan_documents(verification_status);

