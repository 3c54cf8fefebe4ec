-- Idempotency records (api.md §1), one table in every service's schema.
-- A request claims its key by inserting the row first, in the same transaction as its work,
-- so a concurrent request with the same key waits on the row and then replays the answer.
CREATE TABLE idempotency_keys (
    idempotency_key VARCHAR(255) PRIMARY KEY,
    request_fingerprint CHAR(64) NOT NULL,
    response_status INTEGER,
    response_body JSONB,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    expires_at TIMESTAMP NOT NULL
);

CREATE INDEX idx_idempotency_keys_expires_at ON idempotency_keys(expires_at);
