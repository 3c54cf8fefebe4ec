"""A database that goes away and comes back (issue 13 §1): every answer meanwhile is 503 with
Retry-After, never 500; health says DOWN with 503; the pools find the database again by
themselves. On a PostgreSQL of the test's own, stopped as a crash would stop it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from elms.core import embedded
from tests.conftest import running, running_gateway
from tests.support import postgres


@pytest.fixture
async def own_cluster(tmp_path: Path) -> AsyncIterator[tuple[Path, object]]:
    data_dir = tmp_path / "pg"
    admin = await asyncio.to_thread(embedded.start_embedded, data_dir, delete_on_exit=True)
    template = await postgres.create_template(admin, tmp_path)
    url = postgres.on_database(admin, template)
    try:
        yield data_dir, postgres.settings_for(url, tmp_path)
    finally:
        await asyncio.to_thread(embedded.stop, data_dir)


async def test_a_database_that_went_away_is_503_with_retry_after_then_found_again(own_cluster):
    data_dir, settings = own_cluster
    customer_dsn = postgres.service_dsn(settings, "customer")
    async with running("customer", settings, customer_dsn) as customer:
        gateway_settings = settings.model_copy(update={"customer_url": customer.url})
        async with running_gateway(
            gateway_settings, postgres.service_dsn(settings, "gateway")
        ) as gw:
            assert (await gw.client.get("/api/v1/customers?size=1")).status_code == 200

            await asyncio.to_thread(embedded.stop, data_dir, "immediate")
            answers = [
                await customer.client.get("/api/v1/customers?size=1"),
                await customer.client.post(
                    "/api/v1/customers",
                    json={"firstName": "A", "lastName": "B", "email": "a@example.com"},
                ),
                await gw.client.get("/api/v1/customers?size=1"),
            ]
            healths = [
                await customer.client.get("/actuator/health"),
                await gw.client.get("/actuator/health"),
            ]

            await asyncio.to_thread(embedded.restart, data_dir)
            again = await gw.client.get("/api/v1/customers?size=1")
            created = await customer.client.post(
                "/api/v1/customers",
                json={"firstName": "A", "lastName": "B", "email": "a@example.com"},
            )

    for answer in answers:
        assert answer.status_code == 503, answer.text
        assert answer.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
        assert int(answer.headers["retry-after"]) >= 1
    for health in healths:
        assert health.status_code == 503, health.text
        assert health.json()["data"]["status"] == "DOWN"
    assert again.status_code == 200, again.text
    assert created.status_code == 201, created.text
