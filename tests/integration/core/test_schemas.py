"""The migrations give exactly the data model of database-schema.md, isolated per service."""

import asyncpg
import pytest

from elms.core import cluster
from elms.core.config import SERVICES
from elms.core.migrator import Migration, MigrationDrift, migrate, migrations_for

# Tables ELMS adds to every schema (docs/database.md): the spec's outbox, idempotency records,
# consumed events and the migrations' own record.
ADDED_TABLES = {"data_sync_events", "idempotency_keys", "processed_events", "schema_migrations"}

# Every table, index and named constraint of database-schema.md, per schema.
SPEC = {
    "customer_db": {
        "tables": {"customers", "customer_addresses", "credit_reservations", "credit_history"},
        "indexes": {
            "idx_customers_email",
            "idx_customers_phone",
            "idx_customers_credit_score",
            "idx_customers_account_status",
            "idx_customers_created_at",
            "idx_customer_addresses_customer_id",
            "idx_customer_addresses_primary",
            "idx_credit_reservations_customer_id",
            "idx_credit_reservations_status",
            "idx_credit_reservations_expires_at",
            "idx_credit_history_customer_id",
            "idx_credit_history_created_at",
            "idx_credit_history_transaction_type",
        },
        "constraints": {
            "chk_credit_limit_positive",
            "chk_available_credit_valid",
            "chk_credit_score_range",
            "chk_annual_income_positive",
            "chk_reserved_amount_positive",
        },
    },
    "loan_db": {
        "tables": {"loans", "loan_installments", "loan_applications", "loan_documents"},
        "added": {
            "loan_payment_applications",
            "loan_products",
            "loan_product_versions",
            "business_date",
            "cob_runs",
            "loan_delinquency_history",
            "loan_penalty_waivers",
        },
        "indexes": {
            "idx_loans_customer_id",
            "idx_loans_status",
            "idx_loans_application_date",
            "idx_loans_disbursement_date",
            "idx_loans_maturity_date",
            "idx_loans_saga_id",
            "idx_loan_installments_loan_id",
            "idx_loan_installments_due_date",
            "idx_loan_installments_status",
            "idx_loan_applications_customer_id",
            "idx_loan_applications_status",
            "idx_loan_applications_submitted_at",
            "idx_loan_documents_loan_id",
            "idx_loan_documents_type",
            "idx_loan_documents_verification_status",
        },
        "constraints": {
            "chk_loan_amount_positive",
            "chk_interest_rate_range",
            "chk_installment_count_valid",
            "chk_outstanding_amount_valid",
            "chk_installment_number_positive",
            "chk_principal_amount_positive",
            "chk_total_amount_calculation",
        },
    },
    "payment_db": {
        "tables": {"payments", "payment_installments", "payment_history", "payment_calculations"},
        "indexes": {
            "idx_payments_loan_id",
            "idx_payments_customer_id",
            "idx_payments_payment_date",
            "idx_payments_status",
            "idx_payments_reference",
            "idx_payments_created_at",
            "idx_payment_installments_payment_id",
            "idx_payment_installments_installment_number",
            "idx_payment_history_payment_id",
            "idx_payment_history_loan_id",
            "idx_payment_history_customer_id",
            "idx_payment_history_transaction_date",
            "idx_payment_history_transaction_type",
            "idx_payment_calculations_loan_id",
            "idx_payment_calculations_installment",
            "idx_payment_calculations_due_date",
        },
        "constraints": {
            "chk_payment_amount_positive",
            "chk_total_amount_calculation",
            "chk_paid_amount_positive",
            "chk_payment_breakdown_valid",
        },
    },
    "banking_gateway": {
        "tables": {"saga_states", "audit_events", "session_data", "circuit_breaker_states"},
        "indexes": {
            "idx_saga_states_type",
            "idx_saga_states_status",
            "idx_saga_states_timeout_at",
            "idx_saga_states_created_at",
            "idx_saga_states_current_step",
            "idx_audit_events_event_type",
            "idx_audit_events_service_name",
            "idx_audit_events_user_id",
            "idx_audit_events_customer_id",
            "idx_audit_events_action",
            "idx_audit_events_created_at",
            "idx_audit_events_success",
            "idx_audit_events_resource",
            "idx_session_data_user_id",
            "idx_session_data_customer_id",
            "idx_session_data_expires_at",
            "idx_session_data_active",
            "idx_circuit_breaker_states_state",
            "idx_circuit_breaker_states_next_attempt",
            "idx_circuit_breaker_states_updated_at",
        },
        "constraints": {"chk_retry_count_valid"},
    },
}


async def _admin(database):
    return await asyncpg.connect(database.admin_url)


@pytest.mark.parametrize("schema", sorted(SPEC))
async def test_every_table_index_and_constraint_of_the_spec_exists(database, schema):
    conn = await _admin(database)
    try:
        tables = {
            r["tablename"]
            for r in await conn.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = $1", schema
            )
        }
        indexes = {
            r["indexname"]
            for r in await conn.fetch(
                "SELECT indexname FROM pg_indexes WHERE schemaname = $1", schema
            )
        }
        constraints = {
            r["conname"]
            for r in await conn.fetch(
                "SELECT conname FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace"
                " WHERE n.nspname = $1",
                schema,
            )
        }
    finally:
        await conn.close()
    expected = SPEC[schema]
    assert expected["tables"] | ADDED_TABLES | expected.get("added", set()) == tables
    assert expected["indexes"] <= indexes
    assert expected["constraints"] <= constraints


async def test_spec_columns_keep_their_types_and_defaults(database):
    conn = await _admin(database)
    try:
        rows = await conn.fetch(
            "SELECT table_name, column_name, data_type, numeric_precision, numeric_scale,"
            " column_default, is_nullable FROM information_schema.columns"
            " WHERE table_schema = 'customer_db' AND table_name = 'customers'"
        )
    finally:
        await conn.close()
    columns = {r["column_name"]: r for r in rows}
    assert len(columns) == 21
    limit = columns["credit_limit"]
    assert (limit["data_type"], limit["numeric_precision"], limit["numeric_scale"]) == (
        "numeric",
        15,
        2,
    )
    assert limit["column_default"] == "0.00" and limit["is_nullable"] == "NO"
    assert columns["kyc_status"]["column_default"].startswith("'PENDING'")
    assert columns["version"]["column_default"] == "1"


async def test_the_customer_role_cannot_read_another_services_schema(database):
    conn = await asyncpg.connect(database.dsn("customer"))
    try:
        assert await conn.fetchval("SELECT count(*) FROM customer_db.customers") == 0
        for table in ("loan_db.loans", "payment_db.payments", "banking_gateway.saga_states"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.fetchval(f"SELECT count(*) FROM {table}")
    finally:
        await conn.close()


async def test_a_second_migration_run_changes_nothing(database):
    for service in SERVICES:
        target = cluster.service_database(database.settings, service, database.admin_url)
        assert await migrate(target) == []


async def test_an_edited_migration_that_already_ran_is_refused(database, monkeypatch):
    import elms.core.migrator as migrator

    original = migrations_for("customer")
    edited = [Migration(m.source, m.version, m.sql + "\n-- edited") for m in original]
    monkeypatch.setattr(migrator, "migrations_for", lambda service: edited)
    target = cluster.service_database(database.settings, "customer", database.admin_url)
    with pytest.raises(MigrationDrift):
        await migrate(target)


async def test_the_performance_view_lists_each_table_of_each_schema_once(database):
    conn = await asyncpg.connect(
        database.dsn("gateway"), server_settings={"search_path": "banking_gateway"}
    )
    try:
        rows = await conn.fetch("SELECT schemaname, tablename FROM database_performance_metrics")
    finally:
        await conn.close()
    pairs = [(r["schemaname"], r["tablename"]) for r in rows]
    assert len(pairs) == len(set(pairs))
    assert ("customer_db", "data_sync_events") in pairs
    assert ("banking_gateway", "data_sync_events") in pairs
    assert {schema for schema, _ in pairs} == set(SPEC)


async def test_cleanup_expired_sessions_deletes_only_expired_ones(database):
    conn = await asyncpg.connect(
        database.dsn("gateway"), server_settings={"search_path": "banking_gateway"}
    )
    try:
        await conn.execute(
            "INSERT INTO session_data (session_id, user_id, session_data, expires_at) VALUES"
            " ('old', 'u', '{}', now() - interval '1 minute'),"
            " ('live', 'u', '{}', now() + interval '1 hour')"
        )
        await conn.execute("SELECT cleanup_expired_sessions()")
        left = [r["session_id"] for r in await conn.fetch("SELECT session_id FROM session_data")]
    finally:
        await conn.close()
    assert left == ["live"]


async def test_concurrent_migrations_of_one_fresh_schema_apply_each_file_once(admin_url, tmp_path):
    import asyncio

    from tests.support import postgres

    name = f"elms_race_{tmp_path.name[-8:].lower().replace('-', '_')}"
    conn = await asyncpg.connect(admin_url)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    try:
        url = postgres.on_database(admin_url, name)
        settings = postgres.settings_for(url, tmp_path)
        from elms.core.migrator import prepare

        target = cluster.service_database(settings, "customer", url)
        results = await asyncio.gather(*(prepare(target, postgres.ROLE_SECRET) for _ in range(4)))
        applied = [r for r in results if r]
        assert len(applied) == 1 and len(applied[0]) == len(migrations_for("customer"))
    finally:
        await postgres.drop(admin_url, name)
