"""Every request through the gateway is one audit row, secrets redacted, numbers masked; the
rows are written in batches off the request path and none is lost on a clean stop."""

from __future__ import annotations

import asyncio
import json

import asyncpg

from tests.conftest import bearer, running_gateway

JSON_COLUMNS = {"request_headers", "request_body", "response_body"}


async def test_a_burst_then_a_clean_stop_loses_no_audit_row(system, database):
    settings = system.settings.model_copy(
        update={"payment_url": system.payment.url, "audit_flush_interval_seconds": 3600}
    )
    async with running_gateway(settings, database.dsn("gateway")) as gateway:
        created = await gateway.client.post(
            "/api/v1/customers",
            json={
                "firstName": "Audit",
                "lastName": "Me",
                "email": "audit@example.com",
                "identificationNumber": "123-45-6789",
                "identificationType": "SSN",
                "creditLimit": "10.00",
            },
        )
        assert created.status_code == 201
        burst = await asyncio.gather(
            *(gateway.client.get("/api/v1/customers?size=1") for _ in range(40))
        )
        assert all(r.status_code == 200 for r in burst)
        refused = await gateway.client.get(
            "/api/v1/customers", headers={"Authorization": "Bearer nope"}
        )
        assert refused.status_code == 401
        # Nothing written yet: the writer's interval is an hour, so only the stop can flush.
        assert gateway.app.state.audit.queue.qsize() == 42
    conn = await asyncpg.connect(
        database.dsn("gateway"), server_settings={"search_path": "banking_gateway"}
    )
    try:
        rows = await conn.fetch(
            "SELECT request_method, request_url, response_status, success, user_id,"
            " request_headers, request_body, response_body, error_message, resource_type"
            " FROM audit_events ORDER BY event_id"
        )
    finally:
        await conn.close()
    assert len(rows) == 42
    rows = [
        {k: json.loads(v) if k in JSON_COLUMNS and v is not None else v for k, v in r.items()}
        for r in rows
    ]
    first = rows[0]
    assert (first["request_method"], first["response_status"], first["success"]) == (
        "POST",
        201,
        True,
    )
    assert first["user_id"] == "test-admin" and first["resource_type"] == "customers"
    assert first["request_headers"]["authorization"] == "[REDACTED]"
    assert first["request_headers"]["x-request-id"]
    assert first["request_body"]["identificationNumber"] == "*******6789"
    assert first["response_body"]["data"]["identificationNumber"] == "*******6789"
    assert "123-45" not in str(first["request_body"]) + str(first["response_body"])
    last = rows[-1]
    assert (last["response_status"], last["success"], last["user_id"]) == (401, False, None)
    assert last["error_message"]


async def test_the_audit_queue_is_written_by_the_background_writer(system, database):
    settings = system.settings.model_copy(update={"payment_url": system.payment.url})
    async with running_gateway(settings, database.dsn("gateway")) as gateway:
        await gateway.client.get(
            "/api/v1/customers?size=1", headers={"Authorization": bearer(settings, "LOAN_OFFICER")}
        )
        await gateway.app.state.audit.flush()
        async with gateway.app.state.db.connection() as conn:
            count = await conn.fetchval("SELECT count(*) FROM audit_events")
        assert count == 1


async def test_what_postgresql_cannot_store_is_escaped_and_jams_nothing(system, database, caplog):
    settings = system.settings.model_copy(
        update={"payment_url": system.payment.url, "audit_flush_interval_seconds": 3600}
    )
    async with running_gateway(settings, database.dsn("gateway")) as gateway:
        client = gateway.client
        await client.get("/api/v1/customers/x%00y")
        await client.post(
            "/api/v1/customers",
            content='{"na\\u0000me": "va\\u0000lue", "lone": "\\ud800", "deep": [{"k\\u0000": 1}]}',
            headers={"content-type": "application/json"},
        )
        await client.get(
            "/api/v1/customers?size=1",
            headers={"x-odd": b"caf\xc3\xa9 \xff\xfe", "user-agent": b"agent\xff"},
        )
        normal = await asyncio.gather(*(client.get("/api/v1/customers?size=1") for _ in range(3)))
        assert all(r.status_code == 200 for r in normal)

        assert await gateway.app.state.audit.flush() == 6
        assert gateway.app.state.audit.queue.empty()
        registry = gateway.app.state.metrics.registry
        assert registry.get_sample_value("elms_audit_rows_dropped_total") == 0
        # One more for the stop to write.
        await client.post(
            "/api/v1/customers",
            content='{"\\u0000": 1}',
            headers={"content-type": "application/json"},
        )
    assert "Application shutdown failed" not in caplog.text
    conn = await asyncpg.connect(
        database.dsn("gateway"), server_settings={"search_path": "banking_gateway"}
    )
    try:
        rows = await conn.fetch(
            "SELECT request_url, request_headers, user_agent, request_body, response_status"
            " FROM audit_events ORDER BY event_id"
        )
    finally:
        await conn.close()
    rows = [
        {k: json.loads(v) if k in JSON_COLUMNS and v is not None else v for k, v in r.items()}
        for r in rows
    ]
    assert len(rows) == 7
    path, body, odd, *normal_rows, last = rows
    # The path as it was sent: percent-encoded, never decoded to a NUL.
    assert path["request_url"] == "/api/v1/customers/x%00y"
    assert body["request_body"] == {
        "na\\x00me": "va\\x00lue",
        "lone": "\\ud800",
        "deep": [{"k\\x00": 1}],
    }
    assert odd["request_headers"]["x-odd"] == "café \\xff\\xfe"
    assert odd["user_agent"] == "agent\\xff"
    assert [r["response_status"] for r in normal_rows] == [200, 200, 200]
    assert last["request_body"] == {"\\x00": 1}
