"""The gateway's health: UP or DOWN for anyone, its components (pool, outbox, sagas, upstreams
and breakers) only for a caller with the internal service credential."""

from __future__ import annotations

import httpx


async def test_an_anonymous_caller_sees_no_component_of_the_gateways_health(gateway):
    async with httpx.AsyncClient(base_url=gateway.url) as stranger:
        anonymous = await stranger.get("/actuator/health")
    trusted = await gateway.client.get("/actuator/health")

    assert anonymous.status_code == trusted.status_code == 200
    assert anonymous.json()["data"] == {"status": "UP"}
    assert set(trusted.json()["data"]["components"]) >= {"db", "outbox", "upstreams", "sagas"}
