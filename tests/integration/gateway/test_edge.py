"""The gateway's front door: routing to the services, security headers, body limit, rate limit."""

from __future__ import annotations

import os
import secrets

import pytest

from tests.conftest import running_gateway


async def test_requests_reach_their_service_and_come_back_in_its_envelope(gateway):
    created = await gateway.client.post(
        "/api/v1/customers",
        json={
            "firstName": "Gate",
            "lastName": "Way",
            "email": "gate@example.com",
            "creditLimit": "1000.00",
        },
        headers={"X-Request-ID": "gw-trace-1", "Idempotency-Key": "gw-create-1"},
    )
    assert created.status_code == 201, created.text
    assert created.json()["metadata"]["requestId"] == "gw-trace-1"
    assert '"creditLimit":1000.00' in created.text
    again = await gateway.client.post(
        "/api/v1/customers",
        json={
            "firstName": "Gate",
            "lastName": "Way",
            "email": "gate@example.com",
            "creditLimit": "1000.00",
        },
        headers={"Idempotency-Key": "gw-create-1"},
    )
    assert again.headers["idempotent-replayed"] == "true"
    missing = await gateway.client.get("/api/v1/loans/LOAN-NOPE")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "NOT_FOUND"


async def test_an_unknown_resource_is_404_at_the_gateway(gateway):
    response = await gateway.client.get("/api/v1/nothing/here")
    assert response.status_code == 404
    assert response.json()["status"] == "ERROR"


async def test_every_response_carries_the_security_headers(gateway):
    for path in ("/api/v1/customers?size=1", "/api/v1/nothing", "/actuator/health"):
        response = await gateway.client.get(path)
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert "max-age" in response.headers["strict-transport-security"]
        assert response.headers["content-security-policy"] == "default-src 'self'"
    api = await gateway.client.get("/api/v1/customers?size=1")
    assert api.headers["cache-control"] == "no-store"


async def test_a_body_over_the_limit_is_413_before_any_service_sees_it(system, database):
    settings = system.settings.model_copy(
        update={"payment_url": system.payment.url, "max_request_bytes": 100}
    )
    async with running_gateway(settings, database.dsn("gateway")) as small:
        response = await small.client.post(
            "/api/v1/customers",
            content=b'{"firstName": "' + b"x" * 200 + b'"}',
            headers={"content-type": "application/json"},
        )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"


async def test_the_rate_limit_answers_429_with_retry_after_once_the_budget_is_spent(
    system, database
):
    settings = system.settings.model_copy(
        update={"payment_url": system.payment.url, "rate_limit": "3/minute"}
    )
    async with running_gateway(settings, database.dsn("gateway")) as limited:
        answers = [await limited.client.get("/api/v1/customers?size=1") for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a.headers["x-ratelimit-remaining"] for a in answers[:3]] == ["2", "1", "0"]
    assert answers[0].headers["x-ratelimit-limit"] == "3"
    assert int(answers[3].headers["retry-after"]) >= 1
    assert answers[3].json()["error"]["code"] == "RATE_LIMITED"


async def test_a_dead_upstream_is_503_and_another_replica_is_used_when_one_is_down(
    system, database
):
    dead = "http://127.0.0.1:9"
    settings = system.settings.model_copy(
        update={"payment_url": dead, "customer_url": f"{dead},{system.customer.url}"}
    )
    async with running_gateway(settings, database.dsn("gateway")) as gw:
        unavailable = await gw.client.get("/api/v1/payments/PAY-X")
        customers = [await gw.client.get("/api/v1/customers?size=1") for _ in range(2)]
    assert unavailable.status_code == 503
    assert unavailable.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
    assert [c.status_code for c in customers] == [200, 200]


async def test_a_slow_upstream_is_504(system, database):
    import socket

    # A socket that accepts connections and never answers.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    port = silent.getsockname()[1]
    settings = system.settings.model_copy(
        update={"payment_url": f"http://127.0.0.1:{port}", "service_call_timeout_seconds": 0.2}
    )
    try:
        async with running_gateway(settings, database.dsn("gateway")) as gw:
            response = await gw.client.get("/api/v1/payments/PAY-X")
    finally:
        silent.close()
    assert response.status_code == 504
    assert response.json()["error"]["code"] == "GATEWAY_TIMEOUT"


async def test_gateways_sharing_redis_share_one_budget_per_client(system, database):
    redis_url = os.environ.get("ELMS_TEST_REDIS_URL")
    if not redis_url:
        if os.environ.get("ELMS_REQUIRE_REDIS"):
            pytest.fail("ELMS_REQUIRE_REDIS is set but ELMS_TEST_REDIS_URL is not")
        pytest.skip("no Redis configured (ELMS_TEST_REDIS_URL)")
    settings = system.settings.model_copy(
        update={
            "payment_url": system.payment.url,
            "rate_limit": "3/minute",
            "redis_url": redis_url,
            "rate_limit_namespace": f"test-{secrets.token_hex(6)}",
        }
    )
    async with (
        running_gateway(settings, database.dsn("gateway")) as first,
        running_gateway(settings, database.dsn("gateway")) as second,
    ):
        answers = [
            await gw.client.get("/api/v1/customers?size=1") for gw in (first, second, first, second)
        ]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[1].headers["x-ratelimit-remaining"] == "1"


async def test_gateway_health_shows_each_upstream_and_its_breaker(gateway):
    health = (await gateway.client.get("/actuator/health")).json()["data"]
    upstreams = health["components"]["upstreams"]
    assert upstreams["status"] == "UP"
    assert set(upstreams["details"]) == {"customer", "loan", "payment"}
    assert all(u == {"status": "UP", "breaker": "CLOSED"} for u in upstreams["details"].values())


async def test_gateway_metrics_count_rejections_breakers_and_the_audit_queue(system, database):
    settings = system.settings.model_copy(
        update={"payment_url": system.payment.url, "rate_limit": "1/minute"}
    )
    async with running_gateway(settings, database.dsn("gateway")) as limited:
        await limited.client.get("/api/v1/customers?size=1")
        assert (await limited.client.get("/api/v1/customers?size=1")).status_code == 429
        text = (await limited.client.get("/actuator/prometheus")).text
    assert "gateway_rate_limit_rejections_total 1.0" in text
    assert 'gateway_circuit_breaker_state{upstream="customer"} 0.0' in text
    assert "gateway_audit_queue_depth" in text


async def test_the_gateways_operational_endpoints_need_the_credential_but_health_does_not(
    gateway,
):
    import httpx

    async with httpx.AsyncClient(base_url=gateway.url) as stranger:
        for path in ("/actuator/prometheus", "/actuator/circuitbreakers"):
            assert (await stranger.get(path)).status_code == 401, path
        assert (await stranger.get("/actuator/health")).status_code == 200
        assert (await stranger.get("/api/v1/customers")).status_code == 401  # no token
