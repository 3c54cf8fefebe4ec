"""Expiry of reservations: the worker's function is driven directly with a chosen `now`."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from elms.customer.service import expire_reservations
from tests.integration.customer.helpers import (
    CUSTOMERS,
    assert_credit_invariant,
    create_customer,
    credit_row,
    data,
    error_code,
    fetch,
    history_rows,
    later_than,
    naive_utc,
    release,
    reserve_ok,
)


async def _status(service, reservation_id: str) -> str:
    rows = await fetch(
        service,
        "SELECT status FROM credit_reservations WHERE reservation_id = $1",
        reservation_id,
    )
    return rows[0]["status"]


async def test_an_expired_reservation_returns_its_credit(customer_service):
    client = customer_service.client
    cid = (await create_customer(client, creditLimit="1000.00"))["customerId"]
    reservation = await reserve_ok(client, cid, "300.00", reservationTimeout=1)
    db = customer_service.app.state.db

    expired = await expire_reservations(db, later_than(reservation["reservationExpiry"]))

    assert expired == 1
    assert await _status(customer_service, reservation["reservationId"]) == "EXPIRED"
    credit = await credit_row(customer_service, cid)
    assert credit["available_credit"] == Decimal("1000.00")
    assert credit["used_credit"] == Decimal("0.00")
    last = (await history_rows(customer_service, cid))[-1]
    assert last["transaction_type"] == "CREDIT_EXPIRED"
    assert last["amount"] == Decimal("300.00")
    assert last["reference_id"] == reservation["reservationId"]
    assert last["previous_available_credit"] == Decimal("700.00")
    assert last["new_available_credit"] == Decimal("1000.00")
    listed = data(
        await client.get(f"{CUSTOMERS}/{cid}/credit/reservations", params={"status": "EXPIRED"})
    )
    assert [r["reservationId"] for r in listed["content"]] == [reservation["reservationId"]]
    await assert_credit_invariant(customer_service, cid)


async def test_a_reservation_is_not_expired_before_its_expiry(customer_service):
    client = customer_service.client
    cid = (await create_customer(client, creditLimit="1000.00"))["customerId"]
    reservation = await reserve_ok(client, cid, "300.00", reservationTimeout=1)
    just_before = naive_utc(reservation["reservationExpiry"]) - timedelta(milliseconds=1)

    expired = await expire_reservations(customer_service.app.state.db, just_before)

    assert expired == 0
    assert await _status(customer_service, reservation["reservationId"]) == "ACTIVE"
    assert (await credit_row(customer_service, cid))["available_credit"] == Decimal("700.00")


async def test_only_the_reservations_past_their_expiry_expire(customer_service):
    client = customer_service.client
    cid = (await create_customer(client, creditLimit="1000.00"))["customerId"]
    short = await reserve_ok(client, cid, "100.00", reservationTimeout=1)
    long = await reserve_ok(client, cid, "200.00", reservationTimeout=3600)

    expired = await expire_reservations(
        customer_service.app.state.db, later_than(short["reservationExpiry"], seconds=60)
    )

    assert expired == 1
    assert await _status(customer_service, short["reservationId"]) == "EXPIRED"
    assert await _status(customer_service, long["reservationId"]) == "ACTIVE"
    assert (await credit_row(customer_service, cid))["available_credit"] == Decimal("800.00")
    await assert_credit_invariant(customer_service, cid)


async def test_a_released_reservation_does_not_expire_again(customer_service):
    client = customer_service.client
    cid = (await create_customer(client, creditLimit="1000.00"))["customerId"]
    reservation = await reserve_ok(client, cid, "300.00", reservationTimeout=1)
    assert (await release(client, cid, reservation["reservationId"])).status_code == 200

    expired = await expire_reservations(
        customer_service.app.state.db, later_than(reservation["reservationExpiry"])
    )

    assert expired == 0
    assert await _status(customer_service, reservation["reservationId"]) == "RELEASED"
    assert (await credit_row(customer_service, cid))["available_credit"] == Decimal("1000.00")
    await assert_credit_invariant(customer_service, cid)


async def test_expiring_twice_returns_the_credit_once(customer_service):
    client = customer_service.client
    cid = (await create_customer(client, creditLimit="1000.00"))["customerId"]
    reservation = await reserve_ok(client, cid, "300.00", reservationTimeout=1)
    db = customer_service.app.state.db
    now = later_than(reservation["reservationExpiry"])

    first = await expire_reservations(db, now)
    second = await expire_reservations(db, now + timedelta(minutes=1))

    assert (first, second) == (1, 0)
    assert (await credit_row(customer_service, cid))["available_credit"] == Decimal("1000.00")
    expiries = [
        h
        for h in await history_rows(customer_service, cid)
        if h["transaction_type"] == "CREDIT_EXPIRED"
    ]
    assert len(expiries) == 1


async def test_an_expired_reservation_cannot_be_released(customer_service):
    client = customer_service.client
    cid = (await create_customer(client, creditLimit="1000.00"))["customerId"]
    reservation = await reserve_ok(client, cid, "300.00", reservationTimeout=1)
    await expire_reservations(
        customer_service.app.state.db, later_than(reservation["reservationExpiry"])
    )

    response = await release(client, cid, reservation["reservationId"], used="300.00")

    assert response.status_code == 422
    assert error_code(response) == "RESERVATION_NOT_ACTIVE"
    assert (await credit_row(customer_service, cid))["used_credit"] == Decimal("0.00")
    await assert_credit_invariant(customer_service, cid)


async def test_expiry_covers_several_customers_in_one_round(customer_service):
    client = customer_service.client
    ids = [(await create_customer(client, creditLimit="500.00"))["customerId"] for _ in range(3)]
    reservations = [await reserve_ok(client, cid, "125.00", reservationTimeout=1) for cid in ids]
    latest = max(later_than(r["reservationExpiry"]) for r in reservations)

    expired = await expire_reservations(customer_service.app.state.db, latest)

    assert expired == 3
    for cid in ids:
        assert (await credit_row(customer_service, cid))["available_credit"] == Decimal("500.00")
        await assert_credit_invariant(customer_service, cid)
