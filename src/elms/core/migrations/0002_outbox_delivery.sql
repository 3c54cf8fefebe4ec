-- Delivery bookkeeping for the transactional outbox (architecture.md §4), in every schema.

-- When the relay may try a PENDING event again (exponential backoff after a failure).
ALTER TABLE data_sync_events
    ADD COLUMN next_attempt_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP;

CREATE INDEX idx_data_sync_events_pending
    ON data_sync_events(next_attempt_at) WHERE status = 'PENDING';

-- Events this service has consumed, so a repeated delivery changes nothing (by event id).
CREATE TABLE processed_events (
    source_service VARCHAR(100) NOT NULL,
    event_id BIGINT NOT NULL,
    event_type VARCHAR(100) NOT NULL,
    processed_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (source_service, event_id)
);
