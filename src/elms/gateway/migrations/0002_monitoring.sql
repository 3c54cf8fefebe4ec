-- The spec's monitoring view, joined on schema as well as table name: several schemas hold a
-- data_sync_events table, and joining pg_class on relname alone would multiply their rows.
-- Sizes come from the table's oid rather than its qualified name, so the gateway's role needs no
-- USAGE on the other schemas to read them.
CREATE VIEW database_performance_metrics AS
SELECT
    t.schemaname,
    t.tablename,
    pg_size_pretty(pg_total_relation_size(c.oid)) AS size,
    pg_stat_get_tuples_returned(c.oid) AS tuples_returned,
    pg_stat_get_tuples_fetched(c.oid) AS tuples_fetched,
    pg_stat_get_tuples_inserted(c.oid) AS tuples_inserted,
    pg_stat_get_tuples_updated(c.oid) AS tuples_updated,
    pg_stat_get_tuples_deleted(c.oid) AS tuples_deleted
FROM pg_tables t
JOIN pg_namespace n ON n.nspname = t.schemaname
JOIN pg_class c ON c.relname = t.tablename AND c.relnamespace = n.oid
WHERE t.schemaname IN ('customer_db', 'loan_db', 'payment_db', 'banking_gateway');

-- Pin the function to its schema so a caller's search_path cannot redirect its DELETE.
ALTER FUNCTION cleanup_expired_sessions() SET search_path = banking_gateway;
