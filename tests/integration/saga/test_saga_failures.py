"""Sagas when things go wrong (architecture.md §4): a service stopped in the middle, a saga past
its timeout, an operator's cancel, a gateway that stops driving a saga, and two gateways
recovering at once. Every case ends with the customer's credit whole to the cent."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal

from elms.core.clock import utcnow
from tests.conftest import running_gateway
from tests.integration.loan.conftest import loan_request
from tests.integration.saga.helpers import (
    active_loan,
    apply_for_loan,
    books_balance,
    credit_history,
    credit_is_whole,
    customer,
    customer_lock,
    data,
    error,
    first_installment_due,
    get_customer,
    get_loan,
    loan_lock,
    past_staleness,
    pay,
    reaching,
    reservations,
    saga_state,
    step_names,
)


def later(gateway, seconds: float) -> None:
    """Move the gateway's saga clock forward instead of waiting."""
    gateway.app.state.sagas.clock = lambda: utcnow() + timedelta(seconds=seconds)


async def test_a_service_stopped_mid_saga_is_retried_then_the_reserved_credit_is_returned(
    system, gateway, database
):
    person = await customer(system, "stopped-loan")
    async with customer_lock(system, person["customerId"]):
        applying = asyncio.create_task(apply_for_loan(gateway, person["customerId"]))
        await reaching(gateway, "RESERVE_CREDIT")
        await system.stop("loan")
    response = await applying

    assert response.status_code == 503, response.text
    assert error(response)["code"] == "SERVICE_UNAVAILABLE"
    state = await saga_state(gateway, error(response)["sagaId"])
    assert state["status"] == "COMPENSATED"
    assert state["compensationReason"] == "RETRIES_EXHAUSTED"
    create = next(s for s in state["completedSteps"] if s["stepName"] == "CREATE_LOAN")
    assert create["status"] == "FAILED"
    assert create["attempts"] == gateway.app.state.settings.saga_max_retries + 1
    assert step_names(state["compensations"], "COMPLETED") == ["RESERVE_CREDIT"]
    after = await get_customer(system, person["customerId"])
    assert after["availableCredit"] == person["availableCredit"]
    assert credit_is_whole(after)
    [released] = await reservations(system, person["customerId"])
    assert released["status"] == "RELEASED"

    # Once the loan service is back, the same application goes through.
    await system.start("loan")
    again = await apply_for_loan(gateway, person["customerId"])
    assert again.status_code == 201, again.text
    await books_balance(system, database)


async def test_a_payment_past_its_point_of_no_return_waits_for_a_stopped_service_then_completes(
    system, gateway, database
):
    loan = await active_loan(system, gateway, "stopped-customer")
    async with loan_lock(system, loan["loanId"]):
        amount = await first_installment_due(gateway, loan["loanId"])
        paying = asyncio.create_task(pay(gateway, loan["loanId"], amount))
        [saga_id] = await reaching(gateway, "APPLY_TO_LOAN")
        await system.stop("customer")
    response = await paying

    # Applied to the loan, so it cannot be undone: it waits at RESTORE_CREDIT.
    assert response.status_code == 202, response.text
    assert data(response)["currentStep"] == "RESTORE_CREDIT"
    state = await saga_state(gateway, saga_id)
    assert state["status"] == "IN_PROGRESS"
    assert state["error"]["step"] == "RESTORE_CREDIT"
    assert state["compensations"] == []
    assert (await get_loan(gateway, loan["loanId"]))["installments"][0]["status"] == "PAID"

    await system.start("customer")
    await past_staleness(gateway)
    assert await gateway.app.state.sagas.recover_once() == 1
    await gateway.app.state.sagas.drain()

    state = await saga_state(gateway, saga_id)
    assert state["status"] == "COMPLETED"
    payment = state["finalResult"]
    assert payment["status"] == "COMPLETED"
    restored = [
        h
        for h in await credit_history(system, loan["customerId"])
        if h["transactionType"] == "CREDIT_RESTORED"
    ]
    assert [(h["referenceId"], h["amount"]) for h in restored] == [
        (payment["paymentId"], payment["principalPaid"])
    ]
    assert credit_is_whole(await get_customer(system, loan["customerId"]))
    await books_balance(system, database)


async def test_a_saga_past_its_timeout_is_compensated_and_ends_timed_out(system, gateway, database):
    person = await customer(system, "timeout")
    async with customer_lock(system, person["customerId"]):
        started = await gateway.client.post(
            "/api/v1/saga/loan-creation",
            json={**loan_request(person["customerId"]), "sagaTimeout": 60},
        )
        assert started.status_code == 202, started.text
        saga_id = data(started)["sagaId"]
        await reaching(gateway, "RESERVE_CREDIT")
        later(gateway, 61)
    state = await gateway.app.state.sagas.wait(saga_id, 30)

    assert state.status == "TIMEOUT"
    view = await saga_state(gateway, saga_id)
    assert view["error"]["code"] == "SAGA_TIMEOUT"
    assert step_names(view["completedSteps"], "COMPLETED") == [
        "VALIDATE_CUSTOMER",
        "RESERVE_CREDIT",
    ]
    assert step_names(view["compensations"], "COMPLETED") == ["RESERVE_CREDIT"]
    after = await get_customer(system, person["customerId"])
    assert after["availableCredit"] == person["availableCredit"]
    assert credit_is_whole(after)
    loans = await gateway.client.get(f"/api/v1/loans/customer/{person['customerId']}")
    assert data(loans)["totalElements"] == 0
    await books_balance(system, database)


async def test_a_cancelled_saga_stops_and_gives_back_what_its_step_in_flight_reserved(
    system, gateway, database
):
    person = await customer(system, "cancel", creditLimit="20000.00")
    async with customer_lock(system, person["customerId"]):
        started = await gateway.client.post(
            "/api/v1/saga/loan-creation", json=loan_request(person["customerId"])
        )
        saga_id = data(started)["sagaId"]
        await reaching(gateway, "RESERVE_CREDIT")
        cancelling = asyncio.create_task(gateway.client.post(f"/api/v1/saga/{saga_id}/cancel"))
        # The cancel owns the saga now: the first owner will stop at its next write.
        await until_version_moves(gateway, saga_id)
    cancelled = await cancelling

    assert cancelled.status_code == 200, cancelled.text
    view = data(cancelled)
    assert view["status"] == "CANCELLED"
    assert view["compensationReason"] == "CANCELLED"
    # The reservation in flight when it was cancelled was made once, and returned.
    assert step_names(view["compensations"], "COMPLETED") == ["RESERVE_CREDIT"]
    assert "CREATE_LOAN" not in step_names(view["completedSteps"])
    [released] = await reservations(system, person["customerId"])
    assert released["status"] == "RELEASED"
    after = await get_customer(system, person["customerId"])
    assert after["availableCredit"] == Decimal("20000.00")
    assert credit_is_whole(after)
    await gateway.app.state.sagas.drain()
    assert (await saga_state(gateway, saga_id))["status"] == "CANCELLED"

    again = await gateway.client.post(f"/api/v1/saga/{saga_id}/cancel")
    assert again.status_code == 409, again.text
    assert error(again)["code"] == "SAGA_NOT_RUNNING"
    await books_balance(system, database)


async def until_version_moves(gateway, saga_id: str) -> None:
    from tests.integration.saga.helpers import saga_row
    from tests.support.waiting import until

    async def compensating() -> bool:
        return (await saga_row(gateway, saga_id))["status"] == "COMPENSATING"

    await until(compensating, f"saga {saga_id} to be compensating")


async def test_a_payment_at_its_point_of_no_return_cannot_be_cancelled(system, gateway, database):
    loan = await active_loan(system, gateway, "nocancel")
    async with loan_lock(system, loan["loanId"]):
        amount = await first_installment_due(gateway, loan["loanId"])
        paying = asyncio.create_task(pay(gateway, loan["loanId"], amount))
        [saga_id] = await reaching(gateway, "APPLY_TO_LOAN")
        refused = await gateway.client.post(f"/api/v1/saga/{saga_id}/cancel")
    paid = await paying

    assert refused.status_code == 409, refused.text
    assert error(refused)["code"] == "SAGA_PAST_POINT_OF_NO_RETURN"
    assert paid.status_code == 201, paid.text
    assert (await gateway.client.post("/api/v1/saga/SAGA-NOPE/cancel")).status_code == 404
    await books_balance(system, database)


async def test_a_saga_whose_gateway_stopped_mid_step_is_recovered_and_acts_once(
    system, gateway, database
):
    person = await customer(system, "orphan")
    sagas = gateway.app.state.sagas
    async with customer_lock(system, person["customerId"]):
        started = await gateway.client.post(
            "/api/v1/saga/loan-creation", json=loan_request(person["customerId"])
        )
        saga_id = data(started)["sagaId"]
        await reaching(gateway, "RESERVE_CREDIT")
        # The gateway "dies": its task stops writing, and nobody beats the saga's heart.
        orphaned = sagas.tasks[saga_id]
        orphaned.cancel()
        await asyncio.gather(orphaned, return_exceptions=True)
    assert (await saga_state(gateway, saga_id))["status"] == "IN_PROGRESS"
    assert await sagas.recover_once() == 0  # its heart is not stale yet

    await past_staleness(gateway)
    assert await sagas.recover_once() == 1
    await sagas.drain()

    state = await saga_state(gateway, saga_id)
    assert state["status"] == "COMPLETED"
    reserve = next(s for s in state["completedSteps"] if s["stepName"] == "RESERVE_CREDIT")
    assert reserve["attempts"] == 2
    # The reservation the dead gateway's call made is the one the saga went on with.
    [held] = await reservations(system, person["customerId"])
    assert held["reservationId"] == reserve["result"]["reservationId"]
    assert held["reservedAmount"] == Decimal("12000.00")
    await books_balance(system, database)


async def test_two_gateways_recovering_at_once_never_take_the_same_saga(system, gateway, database):
    settings = gateway.app.state.settings.model_copy(update={"saga_recovery_batch": 3})
    async with running_gateway(settings, database.dsn("gateway")) as other:
        mine, theirs = gateway.app.state.sagas, other.app.state.sagas
        mine.config = theirs.config  # three at a time each, so both have some to take
        people = [await customer(system, f"both{i}") for i in range(6)]
        # Six sagas recorded by a gateway that died before driving them.
        ids = []
        for person in people:
            saga = mine.new_saga(
                "LOAN_CREATION",
                {
                    "request": loan_request(person["customerId"]),
                    "applicationId": f"APP-{person['customerId']}",
                    "reservationTimeout": 3600,
                    "startedBy": {"subject": "test", "role": "ADMIN", "customerId": None},
                },
            )
            await mine.insert(saga)
            ids.append(saga.saga_id)
        await past_staleness(gateway)

        claimed = await asyncio.gather(mine.recover_once(), theirs.recover_once())
        await asyncio.gather(mine.drain(), theirs.drain())

    assert sorted(claimed) == [3, 3]
    for saga_id, person in zip(ids, people, strict=True):
        state = await saga_state(gateway, saga_id)
        assert state["status"] == "COMPLETED", state
        assert all(s["attempts"] == 1 for s in state["completedSteps"])
        assert len(await reservations(system, person["customerId"])) == 1
        loans = await gateway.client.get(f"/api/v1/loans/customer/{person['customerId']}")
        assert data(loans)["totalElements"] == 1
    await books_balance(system, database)


async def test_an_application_id_used_before_is_refused_not_adopted(system, gateway, database):
    person = await customer(system, "reuse")
    first = await apply_for_loan(gateway, person["customerId"], applicationId="APP-REUSED")
    assert first.status_code == 201, first.text
    cancelled = await gateway.client.post(
        f"/api/v1/loans/{data(first)['loanId']}/cancel", json={"reason": "changed my mind"}
    )
    assert cancelled.status_code == 200, cancelled.text

    again = await apply_for_loan(gateway, person["customerId"], applicationId="APP-REUSED")

    assert again.status_code == 409, again.text
    assert error(again)["code"] == "CONFLICT"
    assert data(first)["loanId"] not in error(again)["message"]
    assert (await get_loan(gateway, data(first)["loanId"]))["sagaId"] == data(first)["sagaId"]
    state = await saga_state(gateway, error(again)["sagaId"])
    assert step_names(state["compensations"], "COMPLETED") == ["RESERVE_CREDIT"]
    await books_balance(system, database)
