"""The saga API at the gateway (api.md §5) and what the saga routes promise besides: idempotent
requests, validation before any saga starts, 202 with a tracking URL, history, a customer's view
of their own sagas, the MANUAL compensation policy, metrics and health."""

from __future__ import annotations

from decimal import Decimal

from tests.conftest import bearer
from tests.integration.loan.conftest import loan_request
from tests.integration.saga.helpers import (
    LOANS,
    STATES,
    apply_for_loan,
    books_balance,
    credit_is_whole,
    customer,
    data,
    error,
    get_customer,
    reservations,
    saga_state,
    step_names,
)

HISTORY = "/api/v1/saga/history"


async def saga_count(gateway) -> int:
    async with gateway.app.state.db.connection() as conn:
        return await conn.fetchval("SELECT count(*) FROM saga_states")


async def test_a_repeated_request_with_its_idempotency_key_answers_the_same_loan_once(
    system, gateway, database
):
    person = await customer(system, "idem")
    request = loan_request(person["customerId"])
    key = {"Idempotency-Key": "apply-once"}

    first = await gateway.client.post(LOANS, json=request, headers=key)
    again = await gateway.client.post(LOANS, json=request, headers=key)
    other = await gateway.client.post(LOANS, json={**request, "loanAmount": "100.00"}, headers=key)

    assert first.status_code == again.status_code == 201, again.text
    assert again.headers["Idempotent-Replayed"] == "true"
    assert data(again)["loanId"] == data(first)["loanId"]
    assert other.status_code == 422, other.text
    assert error(other)["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert len(await reservations(system, person["customerId"])) == 1
    assert await saga_count(gateway) == 1
    await books_balance(system, database)


async def test_a_repeat_is_answered_from_its_saga_even_when_the_request_could_not_start_now(
    system, gateway
):
    person = await customer(system, "idem-down")
    request = loan_request(person["customerId"])
    key = {"Idempotency-Key": "apply-then-repeat"}
    first = await gateway.client.post(LOANS, json=request, headers=key)
    await system.stop("loan")  # a new application would be 503: it cannot be validated

    again = await gateway.client.post(LOANS, json=request, headers=key)

    await system.start("loan")
    assert again.status_code == 201, again.text
    assert again.headers["Idempotent-Replayed"] == "true"
    assert data(again)["loanId"] == data(first)["loanId"]


async def test_deeply_nested_json_is_400_not_a_crash(gateway):
    nested = b"[" * 50_000 + b"]" * 50_000

    for path in (LOANS, "/api/v1/payments", "/api/v1/saga/loan-creation", "/api/v1/customers"):
        response = await gateway.client.post(
            path, content=nested, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 400, (path, response.text)
        assert error(response)["code"] == "MALFORMED_REQUEST"


async def test_one_idempotency_key_of_two_users_starts_two_sagas(system, gateway):
    person = await customer(system, "twousers")
    request = loan_request(person["customerId"], loanAmount="1000.00")
    key = "same-key"

    mine = await gateway.client.post(LOANS, json=request, headers={"Idempotency-Key": key})
    theirs = await gateway.client.post(
        LOANS,
        json=request,
        headers={"Idempotency-Key": key, "Authorization": bearer(system.settings, "LOAN_OFFICER")},
    )

    assert mine.status_code == theirs.status_code == 201
    assert data(mine)["sagaId"] != data(theirs)["sagaId"]


async def test_a_bad_loan_request_is_400_with_every_problem_and_starts_no_saga(system, gateway):
    person = await customer(system, "bad")

    # An unknown loan type names no product, so the count is judged by the bound every product
    # is held to (1–480) rather than a product's list.
    response = await apply_for_loan(
        gateway, person["customerId"], installmentCount=0, interestRate="0.9", loanType="YACHT"
    )

    assert response.status_code == 400, response.text
    assert error(response)["code"] == "VALIDATION_ERROR"
    assert {d["field"] for d in error(response)["details"]} >= {
        "installmentCount",
        "interestRate",
        "loanType",
    }
    assert await saga_count(gateway) == 0
    assert await reservations(system, person["customerId"]) == []


async def test_a_long_value_the_loan_service_cut_is_said_to_be_cut_through_the_gateway(
    system, gateway
):
    person = await customer(system, "longpurpose")
    response = await apply_for_loan(gateway, person["customerId"], purpose="p" * 5000)
    assert response.status_code == 400, response.text
    [detail] = error(response)["details"]
    assert detail["field"] == "purpose"
    assert detail["rejectedValue"] == "p" * 100
    assert detail["rejectedValueTruncated"] is True
    assert await saga_count(gateway) == 0


async def test_malformed_json_is_400_and_starts_no_saga(gateway):
    response = await gateway.client.post(
        LOANS, content=b'{"customerId": ', headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 400, response.text
    assert error(response)["code"] == "MALFORMED_REQUEST"
    assert await saga_count(gateway) == 0


async def test_bad_saga_options_are_reported_with_the_loans_own_problems(system, gateway):
    person = await customer(system, "opts")

    response = await gateway.client.post(
        "/api/v1/saga/loan-creation",
        json={
            **loan_request(person["customerId"], installmentCount=5),
            "sagaTimeout": 0,
            "compensationPolicy": "SOMETIMES",
        },
    )

    assert response.status_code == 400, response.text
    assert {d["field"] for d in error(response)["details"]} == {
        "sagaTimeout",
        "compensationPolicy",
        "installmentCount",
    }
    assert await saga_count(gateway) == 0


async def test_an_application_started_as_a_saga_answers_202_at_once_and_is_tracked(
    system, gateway, database
):
    person = await customer(system, "async")

    started = await gateway.client.post(
        "/api/v1/saga/loan-creation", json=loan_request(person["customerId"])
    )

    assert started.status_code == 202, started.text
    accepted = data(started)
    assert accepted["sagaType"] == "LOAN_CREATION"
    assert accepted["status"] in ("STARTED", "IN_PROGRESS", "COMPLETED")
    assert [s["stepName"] for s in accepted["steps"]] == [
        "VALIDATE_CUSTOMER",
        "RESERVE_CREDIT",
        "CREATE_LOAN",
        "GENERATE_INSTALLMENTS",
    ]
    assert accepted["trackingUrl"] == f"{STATES}/{accepted['sagaId']}"
    assert accepted["estimatedCompletion"].endswith("Z")
    await gateway.app.state.sagas.drain()
    state = await saga_state(gateway, accepted["sagaId"])
    assert state["status"] == "COMPLETED"
    assert state["finalResult"]["customerId"] == person["customerId"]
    assert state["startTime"] <= state["endTime"]
    assert state["duration"] >= 0
    assert state["compensationPolicy"] == "AUTOMATIC"
    await books_balance(system, database)


async def test_the_manual_policy_holds_the_credit_until_an_operator_cancels(
    system, gateway, database
):
    owner = await customer(system, "manual-owner")
    assert (
        await apply_for_loan(gateway, owner["customerId"], applicationId="APP-M")
    ).status_code == 201
    person = await customer(system, "manual", creditLimit="9000.00")

    started = await gateway.client.post(
        "/api/v1/saga/loan-creation",
        json={
            **loan_request(person["customerId"], applicationId="APP-M", loanAmount="4000.00"),
            "compensationPolicy": "MANUAL",
        },
    )
    saga_id = data(started)["sagaId"]
    await gateway.app.state.sagas.drain()

    stopped = await saga_state(gateway, saga_id)
    assert stopped["status"] == "FAILED"
    assert stopped["error"]["code"] == "CONFLICT"
    assert stopped["error"]["compensationPending"] is True
    assert stopped["compensations"] == []
    [held] = await reservations(system, person["customerId"])
    assert held["status"] == "ACTIVE"
    assert (await get_customer(system, person["customerId"]))["availableCredit"] == Decimal(
        "5000.00"
    )

    cancelled = await gateway.client.post(f"/api/v1/saga/{saga_id}/cancel")

    assert cancelled.status_code == 200, cancelled.text
    assert data(cancelled)["status"] == "CANCELLED"
    assert step_names(data(cancelled)["compensations"], "COMPLETED") == ["RESERVE_CREDIT"]
    after = await get_customer(system, person["customerId"])
    assert after["availableCredit"] == Decimal("9000.00")
    assert credit_is_whole(after)
    await books_balance(system, database)


async def test_history_lists_sagas_newest_first_filtered_and_paged(system, gateway, database):
    rich = await customer(system, "hist-rich")
    poor = await customer(system, "hist-poor", creditLimit="10.00")
    done = [
        data(await apply_for_loan(gateway, rich["customerId"], loanAmount="1000.00"))
        for _ in range(3)
    ]
    refused = error(await apply_for_loan(gateway, poor["customerId"]))

    everything = data(await gateway.client.get(HISTORY))
    completed = data(await gateway.client.get(HISTORY, params={"status": "COMPLETED", "size": 2}))
    second_page = data(
        await gateway.client.get(HISTORY, params={"status": "COMPLETED", "size": 2, "page": 1})
    )
    compensated = data(await gateway.client.get(HISTORY, params={"status": "COMPENSATED"}))
    payments = data(await gateway.client.get(HISTORY, params={"sagaType": "PAYMENT_PROCESSING"}))
    today = done[0]["createdAt"][:10]
    dated = data(await gateway.client.get(HISTORY, params={"fromDate": today, "toDate": today}))
    tomorrow_on = data(await gateway.client.get(HISTORY, params={"fromDate": "2999-01-01"}))

    assert everything["totalElements"] == 4
    assert [s["sagaId"] for s in everything["content"]] == [
        refused["sagaId"],
        *reversed([d["sagaId"] for d in done]),
    ]
    assert (completed["totalElements"], completed["totalPages"], len(completed["content"])) == (
        3,
        2,
        2,
    )
    assert len(second_page["content"]) == 1
    assert [s["sagaId"] for s in compensated["content"]] == [refused["sagaId"]]
    assert compensated["content"][0]["errorCode"] == "INSUFFICIENT_CREDIT"
    assert payments["totalElements"] == 0
    assert dated["totalElements"] == 4
    assert tomorrow_on["totalElements"] == 0
    await books_balance(system, database)


async def test_history_refuses_unknown_filters_with_their_names(gateway):
    for params, field in (
        ({"sagaType": "PIZZA"}, "sagaType"),
        ({"status": "NAPPING"}, "status"),
        ({"fromDate": "2026-02-02", "toDate": "2026-02-01"}, "fromDate"),
        ({"size": 101}, "size"),
    ):
        response = await gateway.client.get(HISTORY, params=params)
        assert response.status_code == 400, (params, response.text)
        assert field in {d["field"] for d in error(response)["details"]}


async def test_a_customer_sees_only_the_sagas_they_started_and_cannot_cancel(system, gateway):
    me = await customer(system, "me")
    someone = await customer(system, "someone")
    as_me = {"Authorization": bearer(system.settings, "CUSTOMER", me["customerId"])}
    theirs = data(await apply_for_loan(gateway, someone["customerId"], loanAmount="500.00"))

    mine = await gateway.client.post(
        LOANS, json=loan_request(me["customerId"], loanAmount="500.00"), headers=as_me
    )
    for_them = await gateway.client.post(
        LOANS, json=loan_request(someone["customerId"]), headers=as_me
    )

    assert mine.status_code == 201, mine.text
    assert for_them.status_code == 403
    own = await gateway.client.get(f"{STATES}/{data(mine)['sagaId']}", headers=as_me)
    assert own.status_code == 200
    other = await gateway.client.get(f"{STATES}/{theirs['sagaId']}", headers=as_me)
    assert other.status_code == 404
    history = data(await gateway.client.get(HISTORY, headers=as_me))
    assert [s["sagaId"] for s in history["content"]] == [data(mine)["sagaId"]]
    cancel = await gateway.client.post(f"/api/v1/saga/{data(mine)['sagaId']}/cancel", headers=as_me)
    assert cancel.status_code == 403
    officer = {"Authorization": bearer(system.settings, "LOAN_OFFICER")}
    assert (
        await gateway.client.post(f"/api/v1/saga/{theirs['sagaId']}/cancel", headers=officer)
    ).status_code == 403


async def test_an_unknown_saga_is_404(gateway):
    response = await gateway.client.get(f"{STATES}/SAGA-NONE")

    assert response.status_code == 404
    assert error(response)["code"] == "NOT_FOUND"


async def test_sagas_are_counted_in_metrics_and_health(system, gateway):
    rich = await customer(system, "metrics")
    poor = await customer(system, "metrics-poor", creditLimit="1.00")
    await apply_for_loan(gateway, rich["customerId"])
    await apply_for_loan(gateway, poor["customerId"])

    metrics = (await gateway.client.get("/actuator/prometheus")).text
    health = data(await gateway.client.get("/actuator/health"))["components"]["sagas"]

    assert 'saga_started_total{saga_type="LOAN_CREATION"} 2.0' in metrics
    assert 'saga_completed_total{saga_type="LOAN_CREATION"} 1.0' in metrics
    assert 'saga_compensated_total{saga_type="LOAN_CREATION",status="COMPENSATED"} 1.0' in metrics
    assert (
        'saga_duration_seconds_count{saga_type="LOAN_CREATION",status="COMPLETED"} 1.0' in metrics
    )
    assert health["status"] == "UP"
    assert health["details"]["byStatus"] == {"COMPLETED": 1, "COMPENSATED": 1}
    assert health["details"]["stale"] == 0
