"""LOAN_CREATION through the gateway (api.md §3, §5): VALIDATE_CUSTOMER → RESERVE_CREDIT →
CREATE_LOAN → GENERATE_INSTALLMENTS against the real services, and what a refusal leaves behind:
nothing."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from tests.conftest import running_gateway
from tests.integration.loan.conftest import relay
from tests.integration.saga.helpers import (
    apply_for_loan,
    books_balance,
    credit_history,
    credit_is_whole,
    customer,
    data,
    error,
    get_customer,
    get_loan,
    holding,
    past_staleness,
    reservations,
    saga_state,
    step_names,
)

STEPS = ["VALIDATE_CUSTOMER", "RESERVE_CREDIT", "CREATE_LOAN", "GENERATE_INSTALLMENTS"]


async def test_a_loan_application_runs_every_step_and_answers_201_with_the_loan(
    system, gateway, database
):
    person = await customer(system, "saga-ok")

    response = await apply_for_loan(gateway, person["customerId"])

    assert response.status_code == 201, response.text
    loan = data(response)
    assert loan["status"] == "APPROVED"
    assert loan["sagaId"].startswith("SAGA-")
    assert loan["loanAmount"] == Decimal("12000.00")
    assert sum(i["principalAmount"] for i in loan["installments"]) == loan["loanAmount"]
    state = await saga_state(gateway, loan["sagaId"])
    assert state["status"] == "COMPLETED"
    assert state["sagaType"] == "LOAN_CREATION"
    assert step_names(state["completedSteps"], "COMPLETED") == STEPS
    assert all(s["duration"] is not None and s["attempts"] == 1 for s in state["completedSteps"])
    assert state["compensations"] == []
    assert state["finalResult"]["loanId"] == loan["loanId"]
    assert state["error"] is None
    # The reservation is tagged with the loan's application, and approval consumes it.
    [held] = await reservations(system, person["customerId"])
    assert held["loanApplicationId"] == loan["applicationId"]
    assert held["status"] == "ACTIVE"
    assert await relay(system) == 1
    after = await get_customer(system, person["customerId"])
    assert after["usedCredit"] == Decimal("12000.00")
    assert after["availableCredit"] == person["creditLimit"] - Decimal("12000.00")
    assert credit_is_whole(after)
    [used] = await reservations(system, person["customerId"])
    assert used["status"] == "USED"
    await books_balance(system, database)


async def test_a_request_for_more_than_the_available_credit_is_422_and_leaves_nothing(
    system, gateway, database
):
    person = await customer(system, "saga-poor", creditLimit="5000.00")

    response = await apply_for_loan(gateway, person["customerId"], loanAmount="8000.00")

    assert response.status_code == 422, response.text
    refused = error(response)
    assert refused["code"] == "INSUFFICIENT_CREDIT"
    assert refused["failedStep"] == "RESERVE_CREDIT"
    state = await saga_state(gateway, refused["sagaId"])
    assert state["status"] == "COMPENSATED"
    assert step_names(state["completedSteps"]) == ["VALIDATE_CUSTOMER", "RESERVE_CREDIT"]
    assert state["completedSteps"][1]["status"] == "FAILED"
    assert state["error"]["code"] == "INSUFFICIENT_CREDIT"
    assert await reservations(system, person["customerId"]) == []
    loans = await system.loan.client.get(f"/api/v1/loans/customer/{person['customerId']}")
    assert data(loans)["totalElements"] == 0
    assert await get_customer(system, person["customerId"]) == person
    await books_balance(system, database)


async def test_a_refusal_after_credit_was_reserved_returns_the_credit_to_the_cent(
    system, gateway, database
):
    first = await customer(system, "saga-first")
    taken = await apply_for_loan(gateway, first["customerId"], applicationId="APP-TAKEN")
    assert taken.status_code == 201, taken.text
    second = await customer(system, "saga-second", creditLimit="33333.33")

    # The application id is another customer's: the loan service refuses at CREATE_LOAN, after
    # the second customer's credit was reserved.
    response = await apply_for_loan(
        gateway, second["customerId"], applicationId="APP-TAKEN", loanAmount="7777.77"
    )

    assert response.status_code == 409, response.text
    assert error(response)["code"] == "CONFLICT"
    assert error(response)["failedStep"] == "CREATE_LOAN"
    state = await saga_state(gateway, error(response)["sagaId"])
    assert state["status"] == "COMPENSATED"
    assert state["compensationReason"] == "REFUSED"
    assert step_names(state["completedSteps"], "COMPLETED") == [
        "VALIDATE_CUSTOMER",
        "RESERVE_CREDIT",
    ]
    assert step_names(state["compensations"], "COMPLETED") == ["RESERVE_CREDIT"]
    after = await get_customer(system, second["customerId"])
    assert after["availableCredit"] == Decimal("33333.33")
    assert after["usedCredit"] == Decimal("0.00")
    assert credit_is_whole(after)
    [released] = await reservations(system, second["customerId"])
    assert released["status"] == "RELEASED"
    moves = [
        (h["transactionType"], h["amount"])
        for h in await credit_history(system, second["customerId"])
    ]
    assert moves == [
        ("CREDIT_LIMIT_SET", Decimal("33333.33")),
        ("CREDIT_RESERVED", Decimal("7777.77")),
        ("CREDIT_RELEASED", Decimal("7777.77")),
    ]
    await books_balance(system, database)


async def test_a_created_loan_is_not_cancelled_when_its_check_cannot_reach_the_loan_service(
    system, database
):
    # CREATE_LOAN is the point of no return: the loan exists, approved here, and its approval is
    # on its way to the customer's credit. A check that times out is retried, never undone.
    settings = system.settings.model_copy(
        update={"payment_url": system.payment.url, "service_call_timeout_seconds": 0.5}
    )
    async with running_gateway(settings, database.dsn("gateway")) as gateway:
        person = await customer(system, "check-cut-off")
        # The schedule check reads the loan's payments; nothing else of the saga does.
        async with holding(
            system.loan.app.state.db,
            "LOCK TABLE loan_payment_applications IN ACCESS EXCLUSIVE MODE",
        ):
            applying = asyncio.create_task(apply_for_loan(gateway, person["customerId"]))
            await gateway.app.state.sagas.drain()  # every try timed out; the saga parked
            response = await applying
        assert response.status_code == 202, response.text
        saga_id = data(response)["sagaId"]
        state = await saga_state(gateway, saga_id)
        assert state["status"] == "IN_PROGRESS"
        assert state["error"]["step"] == "GENERATE_INSTALLMENTS"
        assert state["compensations"] == []
        create = next(s for s in state["completedSteps"] if s["stepName"] == "CREATE_LOAN")
        loan_id = create["result"]["loanId"]
        assert (await get_loan(gateway, loan_id))["status"] == "APPROVED"

        await past_staleness(gateway)
        assert await gateway.app.state.sagas.recover_once() == 1
        await gateway.app.state.sagas.drain()
        state = await saga_state(gateway, saga_id)
        assert state["status"] == "COMPLETED"
        assert (await get_loan(gateway, loan_id))["status"] == "APPROVED"
        await books_balance(system, database)
