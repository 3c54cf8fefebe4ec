-- customer_db: the tables of shared/spec/database-schema.md, applied as written.
-- The runner sets search_path to customer_db, so names stay unqualified as in the spec.

CREATE TABLE customers (
    customer_id VARCHAR(255) PRIMARY KEY,
    first_name VARCHAR(100) NOT NULL,
    last_name VARCHAR(100) NOT NULL,
    email VARCHAR(255) UNIQUE NOT NULL,
    phone VARCHAR(20),
    date_of_birth DATE,
    identification_number VARCHAR(50) UNIQUE,
    identification_type VARCHAR(20) DEFAULT 'SSN',
    credit_limit DECIMAL(15,2) NOT NULL DEFAULT 0.00,
    available_credit DECIMAL(15,2) NOT NULL DEFAULT 0.00,
    used_credit DECIMAL(15,2) NOT NULL DEFAULT 0.00,
    annual_income DECIMAL(15,2),
    employment_status VARCHAR(50),
    credit_score INTEGER,
    account_status VARCHAR(50) DEFAULT 'ACTIVE',
    kyc_status VARCHAR(50) DEFAULT 'PENDING',
    risk_level VARCHAR(20) DEFAULT 'MEDIUM',
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    last_login_at TIMESTAMP,
    version INTEGER DEFAULT 1
);

-- Indexes
CREATE INDEX idx_customers_email ON customers(email);
CREATE INDEX idx_customers_phone ON customers(phone);
CREATE INDEX idx_customers_credit_score ON customers(credit_score);
CREATE INDEX idx_customers_account_status ON customers(account_status);
CREATE INDEX idx_customers_created_at ON customers(created_at);

-- Constraints
ALTER TABLE customers ADD CONSTRAINT chk_credit_limit_positive 
    CHECK (credit_limit >= 0);
ALTER TABLE customers ADD CONSTRAINT chk_available_credit_valid 
    CHECK (available_credit >= 0 AND available_credit <= credit_limit);
ALTER TABLE customers ADD CONSTRAINT chk_credit_score_range 
    CHECK (credit_score >= 300 AND credit_score <= 850);
ALTER TABLE customers ADD CONSTRAINT chk_annual_income_positive 
    CHECK (annual_income >= 0);

CREATE TABLE customer_addresses (
    address_id SERIAL PRIMARY KEY,
    customer_id VARCHAR(255) NOT NULL,
    address_type VARCHAR(50) DEFAULT 'PRIMARY',
    street VARCHAR(255) NOT NULL,
    city VARCHAR(100) NOT NULL,
    state VARCHAR(50) NOT NULL,
    zip_code VARCHAR(20) NOT NULL,
    country VARCHAR(50) DEFAULT 'USA',
    is_primary BOOLEAN DEFAULT false,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    FOREIGN KEY (customer_id) REFERENCES customers(customer_id) ON DELETE CASCADE
);

CREATE INDEX idx_customer_addresses_customer_id ON customer_addresses(customer_id);
CREATE INDEX idx_customer_addresses_primary ON customer_addresses(customer_id, is_primary);

CREATE TABLE credit_reservations (
    reservation_id VARCHAR(255) PRIMARY KEY,
    customer_id VARCHAR(255) NOT NULL,
    reserved_amount DECIMAL(15,2) NOT NULL,
    purpose VARCHAR(100) NOT NULL,
    loan_application_id VARCHAR(255),
    status VARCHAR(50) DEFAULT 'ACTIVE',
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    expires_at TIMESTAMP NOT NULL,
    released_at TIMESTAMP,
    actual_amount_used DECIMAL(15,2) DEFAULT 0.00,
    notes TEXT,
    FOREIGN KEY (customer_id) REFERENCES customers(customer_id) ON DELETE CASCADE
);

CREATE INDEX idx_credit_reservations_customer_id ON credit_reservations(customer_id);
CREATE INDEX idx_credit_reservations_status ON credit_reservations(status);
CREATE INDEX idx_credit_reservations_expires_at ON credit_reservations(expires_at);

-- Constraint
ALTER TABLE credit_reservations ADD CONSTRAINT chk_reserved_amount_positive 
    CHECK (reserved_amount > 0);

CREATE TABLE credit_history (
    history_id SERIAL PRIMARY KEY,
    customer_id VARCHAR(255) NOT NULL,
    transaction_type VARCHAR(50) NOT NULL,
    amount DECIMAL(15,2) NOT NULL,
    previous_available_credit DECIMAL(15,2),
    new_available_credit DECIMAL(15,2),
    reference_id VARCHAR(255),
    reference_type VARCHAR(50),
    description TEXT,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    FOREIGN KEY (customer_id) REFERENCES customers(customer_id) ON DELETE CASCADE
);

CREATE INDEX idx_credit_history_customer_id ON credit_history(customer_id);
CREATE INDEX idx_credit_history_created_at ON credit_history(created_at);
CREATE INDEX idx_credit_history_transaction_type ON credit_history(transaction_type);

