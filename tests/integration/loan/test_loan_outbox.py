"""The loan service's outbox to the customer service (api.md §3 "Approval turns the customer's
reservation into used credit; rejection and cancellation return it"): delivered over real HTTP,
applied once, retried with backoff while the target is down, given up after max_retries."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta
from decimal import Decimal

import httpx
import pytest

from elms.core import outbox
from elms.core.clock import utcnow
from elms.core.service_client import ServiceClient
from tests.integration.customer.helpers import assert_credit_invariant
from tests.integration.loan.conftest import new_customer, relay
from tests.integration.loan.helpers import (
    act,
    create,
    data,
    events,
    get_customer,
    loan_execute,
    reservation,
    reserve,
)

DEAD = "http://127.0.0.1:9"


async def _reserved_pending_loan(system, tag: str, amount: str = "12000.00"):
    """A customer (limit 50000, KYC pending) with credit reserved for an application, and the
    loan of that application waiting for an officer."""
    customer = await new_customer(system.customer.client, tag=tag, kyc=False)
    cid = customer["customerId"]
    application_id = f"APP-{tag.upper()}"
    held = await reserve(system, cid, amount, application_id)
    loan = await create(system, cid, loanAmount=amount, applicationId=application_id)
    assert loan["status"] == "PENDING_APPROVAL"
    return cid, held["reservationId"], loan


async def _credit(system, cid: str) -> tuple[Decimal, Decimal, Decimal]:
    customer = await get_customer(system, cid)
    await assert_credit_invariant(system.customer, cid)
    return customer["creditLimit"], customer["usedCredit"], customer["availableCredit"]


async def _history_count(system, cid: str) -> int:
    async with system.customer.app.state.db.connection() as conn:
        return await conn.fetchval(
            "SELECT count(*) FROM credit_history WHERE customer_id = $1", cid
        )


# --- what each event does to the customer --------------------------------------------------------


async def test_an_approval_turns_the_reservation_into_used_credit(system):
    cid, reservation_id, loan = await _reserved_pending_loan(system, "approve")
    assert await _credit(system, cid) == (
        Decimal("50000.00"),
        Decimal("0.00"),
        Decimal("38000.00"),
    )
    assert (await act(system, loan["loanId"], "approve")).status_code == 200
    # Nothing reaches the customer until the relay delivers the event.
    assert (await get_customer(system, cid))["usedCredit"] == Decimal("0.00")

    assert await relay(system) == 1
    assert await _credit(system, cid) == (
        Decimal("50000.00"),
        Decimal("12000.00"),
        Decimal("38000.00"),
    )
    held = await reservation(system, cid, reservation_id)
    assert held["status"] == "USED"
    [event] = await events(system, loan["loanId"])
    assert (event["status"], event["retry_count"]) == ("PROCESSED", 0)
    assert event["processed_at"] is not None

    history = await system.customer.client.get(
        f"/api/v1/customers/{cid}/credit/history", params={"transactionType": "CREDIT_USED"}
    )
    [used] = data(history)["content"]
    assert used["referenceId"] == loan["loanId"]


async def test_an_automatic_approval_without_a_reservation_uses_credit_directly(system):
    customer = await new_customer(system.customer.client, tag="direct")
    cid = customer["customerId"]
    await create(system, cid, loanAmount="9000.00")
    assert await relay(system) == 1
    assert await _credit(system, cid) == (
        Decimal("50000.00"),
        Decimal("9000.00"),
        Decimal("41000.00"),
    )


@pytest.mark.parametrize("move", ["reject", "cancel"])
async def test_rejecting_or_cancelling_a_pending_loan_returns_the_reservation(system, move):
    cid, reservation_id, loan = await _reserved_pending_loan(system, move)
    assert (await act(system, loan["loanId"], move, {"reason": "no"})).status_code == 200
    assert await relay(system) == 1
    assert await _credit(system, cid) == (
        Decimal("50000.00"),
        Decimal("0.00"),
        Decimal("50000.00"),
    )
    assert (await reservation(system, cid, reservation_id))["status"] == "RELEASED"


async def test_cancelling_an_approved_loan_returns_the_used_credit(system):
    cid, reservation_id, loan = await _reserved_pending_loan(system, "cancel-approved")
    assert (await act(system, loan["loanId"], "approve")).status_code == 200
    assert await relay(system) == 1
    assert (await get_customer(system, cid))["usedCredit"] == Decimal("12000.00")

    assert (
        await act(system, loan["loanId"], "cancel", {"reason": "not needed"})
    ).status_code == 200
    assert await relay(system) == 1
    assert await _credit(system, cid) == (
        Decimal("50000.00"),
        Decimal("0.00"),
        Decimal("50000.00"),
    )
    assert (await reservation(system, cid, reservation_id))["status"] == "USED"


async def test_an_approval_and_its_cancellation_waiting_together_apply_in_order(system):
    cid, _, loan = await _reserved_pending_loan(system, "together")
    assert (await act(system, loan["loanId"], "approve")).status_code == 200
    assert (await act(system, loan["loanId"], "cancel", {})).status_code == 200
    # One loan's events are delivered in the order they happened: the approval first.
    assert await relay(system) == 1
    assert [e["status"] for e in await events(system, loan["loanId"])] == ["PROCESSED", "PENDING"]
    assert (await get_customer(system, cid))["usedCredit"] == Decimal("12000.00")
    assert await relay(system) == 1
    assert await _credit(system, cid) == (
        Decimal("50000.00"),
        Decimal("0.00"),
        Decimal("50000.00"),
    )


async def test_a_repeated_delivery_changes_nothing(system):
    cid, reservation_id, loan = await _reserved_pending_loan(system, "repeat")
    assert (await act(system, loan["loanId"], "approve")).status_code == 200
    assert await relay(system) == 1
    after_first = await _credit(system, cid)
    rows = await _history_count(system, cid)

    # A relay that crashed after delivering but before marking the event delivers it again.
    await loan_execute(system, "UPDATE data_sync_events SET status = 'PENDING'")
    assert await relay(system) == 1
    assert await _credit(system, cid) == after_first
    assert await _history_count(system, cid) == rows
    assert (await reservation(system, cid, reservation_id))["status"] == "USED"


# --- delivery: retries, backoff, giving up, concurrent relays ------------------------------------


async def test_a_target_that_is_down_is_retried_with_backoff_then_delivered(system):
    cid, _, loan = await _reserved_pending_loan(system, "down")
    assert (await act(system, loan["loanId"], "approve")).status_code == 200
    db = system.loan.app.state.db
    dead = ServiceClient({"customer": DEAD}, timeout_seconds=2)
    try:
        to_dead = outbox.http_delivery(dead)
        start = utcnow()
        assert await outbox.relay(db, to_dead, start, backoff_seconds=1.0) == 0
        [event] = await events(system)
        assert (event["status"], event["retry_count"]) == ("PENDING", 1)
        assert event["error_message"]
        assert event["next_attempt_at"] == start + timedelta(seconds=2)

        # Not due yet: the relay does not even try.
        assert await outbox.relay(db, to_dead, start + timedelta(seconds=1)) == 0
        assert (await events(system))[0]["retry_count"] == 1

        second = start + timedelta(seconds=2)
        assert await outbox.relay(db, to_dead, second, backoff_seconds=1.0) == 0
        [event] = await events(system)
        assert (event["status"], event["retry_count"]) == ("PENDING", 2)
        assert event["next_attempt_at"] == second + timedelta(seconds=4)
    finally:
        await dead.close()
    assert (await get_customer(system, cid))["usedCredit"] == Decimal("0.00")

    # The target is back, but the event waits for its next attempt.
    live = outbox.http_delivery(system.loan.app.state.services)
    assert await outbox.relay(db, live, second + timedelta(seconds=3)) == 0
    assert (await events(system))[0]["status"] == "PENDING"
    assert await outbox.relay(db, live, second + timedelta(seconds=4)) == 1
    [event] = await events(system)
    assert (event["status"], event["retry_count"]) == ("PROCESSED", 2)
    assert event["error_message"] is None
    assert await _credit(system, cid) == (
        Decimal("50000.00"),
        Decimal("12000.00"),
        Decimal("38000.00"),
    )


@pytest.mark.books_apart(
    "outbox.delivered",
    "customer.used_credit",
    reason="the approval's event fails for good, as if the customer service never came back",
)
async def test_an_event_that_fails_max_retries_times_is_failed_and_not_retried(system):
    cid, _, loan = await _reserved_pending_loan(system, "give-up")
    assert (await act(system, loan["loanId"], "approve")).status_code == 200
    db = system.loan.app.state.db
    [event] = await events(system)
    assert event["max_retries"] == 5
    dead = ServiceClient({"customer": DEAD}, timeout_seconds=2)
    moment = utcnow()
    try:
        to_dead = outbox.http_delivery(dead)
        for attempt in range(1, 6):
            moment += timedelta(hours=1)
            assert await outbox.relay(db, to_dead, moment) == 0
            [event] = await events(system)
            assert event["retry_count"] == attempt
            assert event["status"] == ("FAILED" if attempt == 5 else "PENDING")
    finally:
        await dead.close()

    live = outbox.http_delivery(system.loan.app.state.services)
    assert await outbox.relay(db, live, moment + timedelta(days=1)) == 0
    [event] = await events(system)
    assert (event["status"], event["retry_count"]) == ("FAILED", 5)
    assert (await get_customer(system, cid))["usedCredit"] == Decimal("0.00")
    await assert_credit_invariant(system.customer, cid)


async def _fail_for_good(system, tag: str):
    """A loan approved while its customer service is unreachable, its event given up on."""
    cid, _, loan = await _reserved_pending_loan(system, tag)
    assert (await act(system, loan["loanId"], "approve")).status_code == 200
    dead = ServiceClient({"customer": DEAD}, timeout_seconds=2)
    moment = utcnow()
    try:
        for _ in range(5):
            moment += timedelta(hours=1)
            await outbox.relay(system.loan.app.state.db, outbox.http_delivery(dead), moment)
    finally:
        await dead.close()
    [event] = await events(system, loan["loanId"])
    assert event["status"] == "FAILED"
    return cid, event


async def test_an_operator_sees_a_failed_event_and_sends_it_again(system):
    cid, event = await _fail_for_good(system, "operator")
    loan = system.loan.client

    listed = await loan.get("/actuator/outbox/failed")
    assert listed.status_code == 200, listed.text
    [shown] = data(listed)["content"]
    assert (shown["eventId"], shown["eventType"]) == (event["event_id"], "LOAN_APPROVED")
    assert (shown["retryCount"], shown["targetService"]) == (5, "customer")
    assert shown["errorMessage"]

    retried = await loan.post(f"/actuator/outbox/{event['event_id']}/retry")
    assert retried.status_code == 200, retried.text
    [again] = await events(system)
    assert (again["status"], again["retry_count"]) == ("PENDING", 0)
    assert await relay(system) == 1
    assert (await get_customer(system, cid))["usedCredit"] == Decimal("12000.00")
    assert data(await loan.get("/actuator/outbox/failed"))["content"] == []

    twice = await loan.post(f"/actuator/outbox/{event['event_id']}/retry")
    assert twice.status_code == 409
    assert twice.json()["error"]["code"] == "OUTBOX_EVENT_NOT_FAILED"
    assert (await loan.post("/actuator/outbox/999999/retry")).status_code == 404


async def test_the_outbox_admin_endpoints_need_the_internal_credential(system):
    async with httpx.AsyncClient(base_url=system.loan.url) as anonymous:
        assert (await anonymous.get("/actuator/outbox/failed")).status_code == 401
        assert (await anonymous.post("/actuator/outbox/1/retry")).status_code == 401


async def test_two_relays_running_at_once_deliver_each_event_once(system):
    customer = await new_customer(system.customer.client, tag="relays", creditLimit="90000.00")
    cid = customer["customerId"]
    for _ in range(6):
        await create(system, cid, loanAmount="1000.00")
    assert len(await events(system)) == 6

    delivered = Counter()
    real = outbox.http_delivery(system.loan.app.state.services)

    async def counting(event):
        delivered[event.event_id] += 1
        await real(event)

    db = system.loan.app.state.db
    now = utcnow()
    results = await asyncio.gather(outbox.relay(db, counting, now), outbox.relay(db, counting, now))
    assert sum(results) == 6
    assert sorted(delivered.values()) == [1] * 6
    assert {e["status"] for e in await events(system)} == {"PROCESSED"}
    assert await _credit(system, cid) == (
        Decimal("90000.00"),
        Decimal("6000.00"),
        Decimal("84000.00"),
    )
