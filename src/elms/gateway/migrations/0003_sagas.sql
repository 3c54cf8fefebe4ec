-- Recovery (architecture.md §4) looks for running sagas whose heartbeat went stale or whose
-- timeout passed; both lookups touch only the few running rows.
CREATE INDEX idx_saga_states_running_heartbeat ON saga_states(last_heartbeat)
    WHERE status IN ('STARTED', 'IN_PROGRESS', 'COMPENSATING');
CREATE INDEX idx_saga_states_running_timeout ON saga_states(timeout_at)
    WHERE status IN ('STARTED', 'IN_PROGRESS', 'COMPENSATING');

-- The sagas a customer started (the saga history a CUSTOMER token sees).
CREATE INDEX idx_saga_states_started_by_customer
    ON saga_states((saga_data #>> '{startedBy,customerId}'));
