-- payment_db: the tables of shared/spec/database-schema.md, applied as written.
-- The runner sets search_path to payment_db, so names stay unqualified as in the spec.

CREATE TABLE payments (
    payment_id VARCHAR(255) PRIMARY KEY,
    loan_id VARCHAR(255) NOT NULL,
    customer_id VARCHAR(255) NOT NULL,
    payment_amount DECIMAL(15,2) NOT NULL,
    payment_date TIMESTAMP NOT NULL,
    payment_method VARCHAR(50) NOT NULL,
    payment_reference VARCHAR(255),
    status VARCHAR(50) DEFAULT 'PENDING',
    processing_fee DECIMAL(15,2) DEFAULT 0.00,
    total_amount DECIMAL(15,2) NOT NULL,
    bank_details JSONB,
    payment_gateway_response JSONB,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    processed_at TIMESTAMP,
    failed_at TIMESTAMP,
    failure_reason TEXT,
    version INTEGER DEFAULT 1
);

-- Indexes
CREATE INDEX idx_payments_loan_id ON payments(loan_id);
CREATE INDEX idx_payments_customer_id ON payments(customer_id);
CREATE INDEX idx_payments_payment_date ON payments(payment_date);
CREATE INDEX idx_payments_status ON payments(status);
CREATE INDEX idx_payments_reference ON payments(payment_reference);
CREATE INDEX idx_payments_created_at ON payments(created_at);

-- Constraints
ALTER TABLE payments ADD CONSTRAINT chk_payment_amount_positive 
    CHECK (payment_amount > 0);
ALTER TABLE payments ADD CONSTRAINT chk_total_amount_calculation 
    CHECK (total_amount = payment_amount + processing_fee);

CREATE TABLE payment_installments (
    payment_installment_id SERIAL PRIMARY KEY,
    payment_id VARCHAR(255) NOT NULL,
    installment_number INTEGER NOT NULL,
    due_amount DECIMAL(15,2) NOT NULL,
    paid_amount DECIMAL(15,2) NOT NULL,
    principal_paid DECIMAL(15,2) NOT NULL,
    interest_paid DECIMAL(15,2) NOT NULL,
    penalty_paid DECIMAL(15,2) DEFAULT 0.00,
    discount_applied DECIMAL(15,2) DEFAULT 0.00,
    remaining_amount DECIMAL(15,2) DEFAULT 0.00,
    early_payment_days INTEGER DEFAULT 0,
    late_payment_days INTEGER DEFAULT 0,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    FOREIGN KEY (payment_id) REFERENCES payments(payment_id) ON DELETE CASCADE
);

CREATE INDEX idx_payment_installments_payment_id ON payment_installments(payment_id);
CREATE INDEX idx_payment_installments_installment_number ON payment_installments(installment_number);

-- Constraints
ALTER TABLE payment_installments ADD CONSTRAINT chk_paid_amount_positive 
    CHECK (paid_amount >= 0);
ALTER TABLE payment_installments ADD CONSTRAINT chk_payment_breakdown_valid 
    CHECK (paid_amount = principal_paid + interest_paid + penalty_paid - discount_applied);

CREATE TABLE payment_history (
    history_id SERIAL PRIMARY KEY,
    payment_id VARCHAR(255) NOT NULL,
    loan_id VARCHAR(255) NOT NULL,
    customer_id VARCHAR(255) NOT NULL,
    transaction_type VARCHAR(50) NOT NULL,
    amount DECIMAL(15,2) NOT NULL,
    balance_before DECIMAL(15,2),
    balance_after DECIMAL(15,2),
    transaction_date TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    description TEXT,
    reference_data JSONB,
    FOREIGN KEY (payment_id) REFERENCES payments(payment_id) ON DELETE CASCADE
);

CREATE INDEX idx_payment_history_payment_id ON payment_history(payment_id);
CREATE INDEX idx_payment_history_loan_id ON payment_history(loan_id);
CREATE INDEX idx_payment_history_customer_id ON payment_history(customer_id);
CREATE INDEX idx_payment_history_transaction_date ON payment_history(transaction_date);
CREATE INDEX idx_payment_history_transaction_type ON payment_history(transaction_type);

CREATE TABLE payment_calculations (
    calculation_id SERIAL PRIMARY KEY,
    loan_id VARCHAR(255) NOT NULL,
    installment_number INTEGER NOT NULL,
    calculation_date TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    due_date DATE NOT NULL,
    base_amount DECIMAL(15,2) NOT NULL,
    discount_rate DECIMAL(8,6) DEFAULT 0.000000,
    penalty_rate DECIMAL(8,6) DEFAULT 0.000000,
    discount_amount DECIMAL(15,2) DEFAULT 0.00,
    penalty_amount DECIMAL(15,2) DEFAULT 0.00,
    final_amount DECIMAL(15,2) NOT NULL,
    early_payment_days INTEGER DEFAULT 0,
    late_payment_days INTEGER DEFAULT 0,
    calculation_type VARCHAR(50) DEFAULT 'STANDARD',
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);

CREATE INDEX idx_payment_calculations_loan_id ON payment_calculations(loan_id);
CREATE INDEX idx_payment_calculations_installment ON payment_calculations(installment_number);
CREATE INDEX idx_payment_calculations_due_date ON payment_calculations(due_date);

