-- Tables every service's schema has (docs/database.md). Numbered with the services' own
-- migrations and applied before a service's migration of the same number.

-- The transactional outbox: the spec's data_sync_events (database-schema.md, "Cross-Database
-- Relationships"), one in each service's schema, as written there.
CREATE TABLE data_sync_events (
    event_id SERIAL PRIMARY KEY,
    event_type VARCHAR(100) NOT NULL,
    source_service VARCHAR(100) NOT NULL,
    target_service VARCHAR(100) NOT NULL,
    entity_type VARCHAR(100) NOT NULL,
    entity_id VARCHAR(255) NOT NULL,
    event_data JSONB NOT NULL,
    status VARCHAR(50) DEFAULT 'PENDING',
    retry_count INTEGER DEFAULT 0,
    max_retries INTEGER DEFAULT 5,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    processed_at TIMESTAMP,
    error_message TEXT
);

-- When the relay may try a PENDING event again (exponential backoff after a failure).
ALTER TABLE data_sync_events
    ADD COLUMN next_attempt_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP;

CREATE INDEX idx_data_sync_events_pending
    ON data_sync_events(next_attempt_at) WHERE status = 'PENDING';
CREATE INDEX idx_data_sync_events_pending_entity
    ON data_sync_events(entity_type, entity_id, event_id) WHERE status = 'PENDING';

-- Events this service has consumed, so a repeated delivery changes nothing (by event id).
CREATE TABLE processed_events (
    source_service VARCHAR(100) NOT NULL,
    event_id BIGINT NOT NULL,
    event_type VARCHAR(100) NOT NULL,
    processed_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (source_service, event_id)
);

-- Idempotency records (api.md §1). A request claims its key by inserting the row first, in
-- the same transaction as its work, so a concurrent request with the same key waits on the
-- row and then replays the answer.
CREATE TABLE idempotency_keys (
    idempotency_key VARCHAR(255) PRIMARY KEY,
    request_fingerprint CHAR(64) NOT NULL,
    response_status INTEGER,
    response_body JSONB,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    expires_at TIMESTAMP NOT NULL
);

CREATE INDEX idx_idempotency_keys_expires_at ON idempotency_keys(expires_at);
