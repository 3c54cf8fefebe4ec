"""A service stops: its breaker opens and the gateway answers 503 at once; the service comes
back: the breaker's probe closes it. The state lives in circuit_breaker_states."""

from __future__ import annotations

import socket

from elms.customer.app import create_app
from tests.conftest import running_gateway
from tests.support.http import serving


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_a_stopped_service_opens_its_breaker_and_a_restarted_one_closes_it(system, database):
    port = _free_port()
    settings = system.settings.model_copy(
        update={
            "payment_url": system.payment.url,
            "customer_url": f"http://127.0.0.1:{port}",
            "breaker_failure_threshold": 3,
            "breaker_open_seconds": 3600,
            "breaker_refresh_interval_seconds": 3600,
        }
    )
    async with running_gateway(settings, database.dsn("gateway")) as gateway:
        down = [await gateway.client.get("/api/v1/customers?size=1") for _ in range(3)]
        assert [r.status_code for r in down] == [503, 503, 503]
        board = gateway.app.state.breakers
        assert board.breakers["customer"].status == "OPEN"
        refused = await gateway.client.get("/api/v1/customers?size=1")
        assert refused.status_code == 503
        assert board.counts["customer:rejected"] == 1  # answered without calling upstream

        states = (await gateway.client.get("/actuator/circuitbreakers")).json()["data"]
        customer = next(b for b in states if b["name"] == "customer")
        assert (customer["state"], customer["failureCount"]) == ("OPEN", 3)
        assert customer["configuration"]["failureThreshold"] == 3

        # The service comes back; its wait is over (set in the shared table, as time would).
        app = create_app(database.settings, database.dsn("customer"))
        async with serving(app, port=port):
            async with gateway.app.state.db.transaction() as conn:
                await conn.execute(
                    "UPDATE circuit_breaker_states SET next_attempt_time = now() - interval"
                    " '1 second' WHERE breaker_name = 'customer'"
                )
            await board.refresh()
            probe = await gateway.client.get("/api/v1/customers?size=1")
            assert probe.status_code == 200
        assert board.breakers["customer"].status == "CLOSED"
        async with gateway.app.state.db.connection() as conn:
            row = await conn.fetchrow(
                "SELECT state, failure_count FROM circuit_breaker_states"
                " WHERE breaker_name = 'customer'"
            )
        assert (row["state"], row["failure_count"]) == ("CLOSED", 0)
