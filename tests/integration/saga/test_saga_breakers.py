"""Sagas and the gateway's circuit breakers: a step past the pivot waits for an open breaker
instead of spending its retries against it, and a step failing because another service is down
does not open the breaker of the service that told it so."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal

from elms.core.business_day import today
from elms.core.clock import utcnow
from elms.core.ids import new_id
from elms.gateway.saga.payment_processing import PAYMENT_PROCESSING
from tests.conftest import running_gateway
from tests.integration.saga.helpers import (
    active_loan,
    books_balance,
    credit_history,
    customer_lock,
    data,
    first_installment_due,
    past_staleness,
    pay,
    reaching,
    saga_state,
)

OPEN_SECONDS = 3600


def breaker_settings(system):
    """A gateway whose breakers open after three failures and stay open an hour (time is moved,
    never waited for), and refresh only when a test asks."""
    return system.settings.model_copy(
        update={
            "payment_url": system.payment.url,
            "breaker_failure_threshold": 3,
            "breaker_open_seconds": OPEN_SECONDS,
            "breaker_refresh_interval_seconds": 3600,
        }
    )


async def test_a_payment_past_its_pivot_waits_for_an_open_payment_breaker_then_completes(
    system, database
):
    async with running_gateway(breaker_settings(system), database.dsn("gateway")) as gateway:
        board, sagas = gateway.app.state.breakers, gateway.app.state.sagas
        loan = await active_loan(system, gateway, "breaker-complete")
        async with customer_lock(system, loan["customerId"]):
            amount = await first_installment_due(gateway, loan["loanId"])
            paying = asyncio.create_task(pay(gateway, loan["loanId"], amount))
            [saga_id] = await reaching(gateway, "RESTORE_CREDIT")
            # Meanwhile the payment service is away for a moment: its breaker opens.
            await system.stop("payment")
            for _ in range(3):
                down = await gateway.client.get(f"/api/v1/payments/loan/{loan['loanId']}")
                assert down.status_code == 503
            await system.start("payment")
            opened = board.breakers["payment"]
            assert opened.status == "OPEN"
        response = await paying

        # Applied to the loan and the credit restored; COMPLETE meets the open breaker. It
        # waits (parked: the wait is long) without spending a retry or failing the step.
        assert response.status_code == 202, response.text
        state = await saga_state(gateway, saga_id)
        assert (state["status"], state["currentStep"], state["retryCount"]) == (
            "IN_PROGRESS",
            "COMPLETE",
            0,
        )
        complete = next(s for s in state["completedSteps"] if s["stepName"] == "COMPLETE")
        assert complete["status"] == "STARTED" and not complete["inFlight"]
        assert state["error"]["code"] == "SERVICE_UNAVAILABLE"
        assert state["error"]["step"] == "COMPLETE"
        recorded = next(s for s in state["completedSteps"] if s["stepName"] == "RECORD_PAYMENT")
        payment_id = recorded["result"]["paymentId"]
        pending = await system.payment.client.get(f"/api/v1/payments/{payment_id}")
        assert data(pending)["status"] == "PENDING"
        # Refusing the saga did not lengthen the breaker's wait.
        assert board.breakers["payment"].next_attempt == opened.next_attempt
        assert board.counts["payment:rejected"] >= 1

        # Once the breaker's wait is over (the engine's clock moved past it), recovery goes on
        # and the breaker lets COMPLETE through.
        sagas.clock = lambda: utcnow() + timedelta(seconds=OPEN_SECONDS + 60)
        await past_staleness(gateway)
        assert await sagas.recover_once() == 1
        await sagas.drain()

        state = await saga_state(gateway, saga_id)
        assert state["status"] == "COMPLETED"
        assert state["finalResult"]["status"] == "COMPLETED"
        assert board.breakers["payment"].status == "HALF_OPEN"  # one probe of three passed
        restored = [
            h
            for h in await credit_history(system, loan["customerId"])
            if h["transactionType"] == "CREDIT_RESTORED"
        ]
        assert [h["referenceId"] for h in restored] == [payment_id]
    await books_balance(system, database)


async def test_a_step_failing_because_another_service_is_down_leaves_its_services_breaker_closed(
    system, database
):
    async with running_gateway(breaker_settings(system), database.dsn("gateway")) as gateway:
        board, sagas = gateway.app.state.breakers, gateway.app.state.sagas
        await system.stop("loan")
        # A payment saga started while the loan service is down (as if it went down just after
        # the request was validated): CALCULATE asks the payment service, which cannot read the
        # loan and says so with a relayed 503, four times.
        saga = sagas.new_saga(
            PAYMENT_PROCESSING.saga_type,
            {
                "request": {
                    "loanId": "LOAN-0123456789ABCDEF01234567",
                    "paymentAmount": Decimal("10.00"),
                    "paymentMethod": "CASH",
                    "paymentDate": today(),
                },
                "paymentId": new_id("PAY"),
                "startedBy": {"subject": "test-admin", "role": "ADMIN", "customerId": None},
                "requestId": None,
            },
        )
        await sagas.insert(saga)
        ended = await sagas.spawn(saga)

        assert ended.status == "COMPENSATED"
        calculate = ended.record("CALCULATE")
        assert calculate is not None
        assert calculate.attempts == gateway.app.state.settings.saga_max_retries + 1
        assert calculate.error["code"] == "SERVICE_UNAVAILABLE"
        payment = board.breakers["payment"]
        assert (payment.status, payment.failure_count) == ("CLOSED", 0)
        await system.start("loan")
    await books_balance(system, database)
