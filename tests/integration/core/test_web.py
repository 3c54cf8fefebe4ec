"""What every service shares over HTTP: request ids, the actuator, and no 500 for bad input."""

from __future__ import annotations


async def test_a_request_id_given_is_returned_in_header_and_envelope(customer_service):
    response = await customer_service.client.get(
        "/api/v1/customers/nobody", headers={"X-Request-ID": "trace-123"}
    )
    assert response.status_code == 404
    assert response.headers["x-request-id"] == "trace-123"
    assert response.json()["metadata"]["requestId"] == "trace-123"


async def test_a_missing_or_unsafe_request_id_is_replaced_by_a_generated_one(customer_service):
    response = await customer_service.client.get(
        "/actuator/info", headers={"X-Request-ID": "bad id\twith spaces"}
    )
    assert response.headers["x-request-id"].startswith("REQ-")


async def test_health_reports_the_database_and_pool(customer_service):
    response = await customer_service.client.get("/actuator/health")
    assert response.status_code == 200
    db = response.json()["data"]["components"]["db"]
    assert db["status"] == "UP"
    assert db["details"]["pool"]["max"] == 20
    assert db["details"]["pool"]["minIdle"] == 5


async def test_health_tells_whether_the_outbox_is_woken_by_listen(database):
    from tests.conftest import running
    from tests.support.waiting import until

    settings = database.settings.model_copy(update={"outbox_listen": True})
    async with running("customer", settings, database.dsn("customer")) as service:

        async def outbox() -> dict:
            return (await service.client.get("/actuator/health")).json()["data"]["components"][
                "outbox"
            ]

        listener = service.app.state.outbox_listener
        first = listener.conn
        assert (await outbox())["details"]["listening"] is True
        await first.close()  # lost, as in a database restart
        assert listener.listening is False
        back = await until(
            lambda: _listening(outbox), "the LISTEN connection to be opened again", 30
        )
        assert listener.conn is not first
    assert back["status"] == "UP"


async def _listening(outbox):
    found = await outbox()
    return found if found["details"]["listening"] else None


async def test_health_without_listen_says_so(customer_service):
    response = await customer_service.client.get("/actuator/health")
    assert response.json()["data"]["components"]["outbox"]["details"]["listening"] is None


async def test_health_is_down_with_503_when_the_database_is_gone(customer_service):
    await customer_service.app.state.db.pool.close()
    response = await customer_service.client.get("/actuator/health")
    assert response.status_code == 503
    assert response.json()["data"]["status"] == "DOWN"


async def test_an_anonymous_caller_sees_only_whether_the_service_is_up(customer_service):
    import httpx

    async with httpx.AsyncClient(base_url=customer_service.url) as stranger:
        for headers in ({}, {"X-ELMS-Service-Token": "guess"}):
            response = await stranger.get("/actuator/health", headers=headers)
            assert response.status_code == 200
            assert response.json()["data"] == {"status": "UP"}
        await customer_service.app.state.db.pool.close()
        down = await stranger.get("/actuator/health")
    assert down.status_code == 503
    assert down.json()["data"] == {"status": "DOWN"}


async def test_info_names_the_service_and_its_version(customer_service):
    data = (await customer_service.client.get("/actuator/info")).json()["data"]
    assert data["name"] == "elms-customer"
    assert data["version"]


async def test_prometheus_counts_requests_by_route_and_status(customer_service):
    await customer_service.client.get("/api/v1/customers/nobody")
    text = (await customer_service.client.get("/actuator/prometheus")).text
    assert (
        'http_requests_total{method="GET",route="/api/v1/customers/{customer_id}",'
        'service="customer",status="404"} 1.0'
    ) in text
    assert 'db_pool_connections{service="customer",state="max"} 20.0' in text


async def test_an_unknown_route_is_a_404_in_the_envelope(customer_service):
    response = await customer_service.client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"


async def test_a_wrong_method_is_a_405_in_the_envelope(customer_service):
    response = await customer_service.client.delete("/api/v1/customers")
    assert response.status_code == 405
    assert response.json()["status"] == "ERROR"


async def test_an_unexpected_error_is_a_500_envelope_with_the_request_id_and_no_internals(
    customer_service, monkeypatch
):
    from elms.customer import service

    async def broken(*_args, **_kwargs):
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(service, "get_customer", broken)
    response = await customer_service.client.get(
        "/api/v1/customers/anyone", headers={"X-Request-ID": "trace-500"}
    )
    assert response.status_code == 500
    assert response.headers["x-request-id"] == "trace-500"
    assert response.json()["error"]["code"] == "INTERNAL_ERROR"
    assert response.json()["metadata"]["requestId"] == "trace-500"
    assert "secret" not in response.text


async def test_a_service_answers_nothing_but_health_and_info_without_the_credential(
    customer_service,
):
    import httpx

    async with httpx.AsyncClient(base_url=customer_service.url) as stranger:
        for path in ("/api/v1/customers", "/actuator/prometheus", "/internal/v1/events"):
            response = await stranger.get(path)
            assert response.status_code == 401, path
            assert response.json()["error"]["code"] == "UNAUTHORIZED"
        forged = await stranger.get("/api/v1/customers", headers={"X-ELMS-Service-Token": "x"})
        assert forged.status_code == 401
        for path in ("/actuator/health", "/actuator/info"):
            assert (await stranger.get(path)).status_code == 200, path
