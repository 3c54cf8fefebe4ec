"""A service stops: its breaker opens and the gateway answers 503 at once; the service comes
back: the breaker's probes close it. The state lives in circuit_breaker_states. A service that
passes on another service's failure is not the one failing: its breaker stays closed."""

from __future__ import annotations

import socket

from structlog.testing import capture_logs

from elms.core.service_client import RELAYED_FAILURE
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
        with capture_logs() as opening:
            down = [await gateway.client.get("/api/v1/customers?size=1") for _ in range(3)]
        assert [r.status_code for r in down] == [503, 503, 503]
        # Why it opened is in the log, once: the upstream's own failure.
        [opened] = [e for e in opening if e["event"] == "circuit breaker moved"]
        assert (opened["breaker"], opened["before"], opened["after"]) == (
            "customer",
            "CLOSED",
            "OPEN",
        )
        assert opened["cause"].startswith("ServiceUnavailable")
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
            # HALF_OPEN: a few probes decide (ELMS_BREAKER_HALF_OPEN_PROBES, 3 by default).
            with capture_logs() as probing:
                for _ in range(2):
                    probe = await gateway.client.get("/api/v1/customers?size=1")
                    assert probe.status_code == 200
                    assert board.breakers["customer"].status == "HALF_OPEN"
                probe = await gateway.client.get("/api/v1/customers?size=1")
                assert probe.status_code == 200
        assert board.breakers["customer"].status == "CLOSED"
        moves = [
            (e["before"], e["after"]) for e in probing if e["event"] == "circuit breaker moved"
        ]
        assert moves == [("OPEN", "HALF_OPEN"), ("HALF_OPEN", "CLOSED")]
        async with gateway.app.state.db.connection() as conn:
            row = await conn.fetchrow(
                "SELECT state, failure_count FROM circuit_breaker_states"
                " WHERE breaker_name = 'customer'"
            )
        assert (row["state"], row["failure_count"]) == ("CLOSED", 0)


async def test_a_failure_the_payment_service_relays_from_the_loan_service_leaves_it_closed(
    system, database
):
    settings = system.settings.model_copy(
        update={
            "payment_url": system.payment.url,
            "breaker_failure_threshold": 3,
            "breaker_open_seconds": 3600,
            "breaker_refresh_interval_seconds": 3600,
        }
    )
    loan_id = "LOAN-0123456789ABCDEF01234567"
    async with running_gateway(settings, database.dsn("gateway")) as gateway:
        board = gateway.app.state.breakers
        await system.stop("loan")
        # The payment service is well; what it needs of the loan service is not. It answers
        # 503 marked as relayed: to quotes through the proxy, and to the CALCULATE step of
        # payment sagas (each retried, then compensated: 503 SERVICE_UNAVAILABLE).
        for _ in range(4):
            quote = await gateway.client.post(
                "/api/v1/payments/calculate", json={"loanId": loan_id}
            )
            assert quote.status_code == 503, quote.text
            assert RELAYED_FAILURE not in quote.headers  # a service's mark, not the client's
        for _ in range(4):
            paying = await gateway.client.post(
                "/api/v1/payments",
                json={"loanId": loan_id, "paymentAmount": "10.00", "paymentMethod": "CASH"},
            )
            assert paying.status_code == 503, paying.text
            assert paying.json()["error"]["failedStep"] == "CALCULATE"
        payment = board.breakers["payment"]
        assert (payment.status, payment.failure_count) == ("CLOSED", 0)
        assert board.counts["payment:failures"] == 0

        # Its own failure still counts: stopped, it opens its breaker.
        await system.stop("payment")
        for _ in range(3):
            down = await gateway.client.get(f"/api/v1/payments/loan/{loan_id}")
            assert down.status_code == 503
        assert board.breakers["payment"].status == "OPEN"
        await system.start("payment")
        await system.start("loan")
