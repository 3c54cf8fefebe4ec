-- banking_gateway: the tables of shared/spec/database-schema.md, applied as written.
-- The runner sets search_path to banking_gateway, so names stay unqualified as in the spec.

CREATE TABLE saga_states (
    saga_id VARCHAR(255) PRIMARY KEY,
    saga_type VARCHAR(100) NOT NULL,
    status VARCHAR(50) NOT NULL DEFAULT 'STARTED',
    current_step VARCHAR(100) NOT NULL,
    saga_data JSONB NOT NULL,
    completed_steps JSONB DEFAULT '[]'::jsonb,
    compensation_data JSONB DEFAULT '{}'::jsonb,
    start_time TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    end_time TIMESTAMP,
    timeout_at TIMESTAMP NOT NULL,
    last_heartbeat TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    retry_count INTEGER DEFAULT 0,
    max_retries INTEGER DEFAULT 3,
    error_details JSONB,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    version INTEGER DEFAULT 1
);

-- Indexes
CREATE INDEX idx_saga_states_type ON saga_states(saga_type);
CREATE INDEX idx_saga_states_status ON saga_states(status);
CREATE INDEX idx_saga_states_timeout_at ON saga_states(timeout_at);
CREATE INDEX idx_saga_states_created_at ON saga_states(created_at);
CREATE INDEX idx_saga_states_current_step ON saga_states(current_step);

-- Constraints
ALTER TABLE saga_states ADD CONSTRAINT chk_retry_count_valid 
    CHECK (retry_count >= 0 AND retry_count <= max_retries);

CREATE TABLE audit_events (
    event_id SERIAL PRIMARY KEY,
    event_type VARCHAR(100) NOT NULL,
    service_name VARCHAR(100) NOT NULL,
    user_id VARCHAR(255),
    customer_id VARCHAR(255),
    resource_type VARCHAR(100),
    resource_id VARCHAR(255),
    action VARCHAR(100) NOT NULL,
    request_method VARCHAR(10),
    request_url VARCHAR(500),
    request_ip VARCHAR(45),
    user_agent TEXT,
    request_headers JSONB,
    request_body JSONB,
    response_status INTEGER,
    response_body JSONB,
    processing_time_ms INTEGER,
    success BOOLEAN NOT NULL,
    error_message TEXT,
    risk_score INTEGER,
    compliance_flags JSONB,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);

-- Indexes
CREATE INDEX idx_audit_events_event_type ON audit_events(event_type);
CREATE INDEX idx_audit_events_service_name ON audit_events(service_name);
CREATE INDEX idx_audit_events_user_id ON audit_events(user_id);
CREATE INDEX idx_audit_events_customer_id ON audit_events(customer_id);
CREATE INDEX idx_audit_events_action ON audit_events(action);
CREATE INDEX idx_audit_events_created_at ON audit_events(created_at);
CREATE INDEX idx_audit_events_success ON audit_events(success);
CREATE INDEX idx_audit_events_resource ON audit_events(resource_type, resource_id);

CREATE TABLE session_data (
    session_id VARCHAR(255) PRIMARY KEY,
    user_id VARCHAR(255) NOT NULL,
    customer_id VARCHAR(255),
    session_data JSONB NOT NULL,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    expires_at TIMESTAMP NOT NULL,
    last_accessed TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    ip_address VARCHAR(45),
    user_agent TEXT,
    is_active BOOLEAN DEFAULT true
);

-- Indexes
CREATE INDEX idx_session_data_user_id ON session_data(user_id);
CREATE INDEX idx_session_data_customer_id ON session_data(customer_id);
CREATE INDEX idx_session_data_expires_at ON session_data(expires_at);
CREATE INDEX idx_session_data_active ON session_data(is_active);

-- Auto-cleanup expired sessions
CREATE OR REPLACE FUNCTION cleanup_expired_sessions()
RETURNS void AS $$
BEGIN
    DELETE FROM session_data WHERE expires_at < NOW();
END;
$$ LANGUAGE plpgsql;

CREATE TABLE circuit_breaker_states (
    breaker_name VARCHAR(100) PRIMARY KEY,
    state VARCHAR(20) NOT NULL,
    failure_count INTEGER DEFAULT 0,
    last_failure_time TIMESTAMP,
    last_success_time TIMESTAMP,
    next_attempt_time TIMESTAMP,
    state_changed_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    configuration JSONB NOT NULL,
    metrics JSONB DEFAULT '{}'::jsonb,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);

-- Indexes
CREATE INDEX idx_circuit_breaker_states_state ON circuit_breaker_states(state);
CREATE INDEX idx_circuit_breaker_states_next_attempt ON circuit_breaker_states(next_attempt_time);
CREATE INDEX idx_circuit_breaker_states_updated_at ON circuit_breaker_states(updated_at);

