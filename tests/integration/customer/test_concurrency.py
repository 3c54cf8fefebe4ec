"""Concurrent credit movements: the customer row lock serialises them, so concurrent requests
never together take more than the available credit, nor move one reservation twice."""

from __future__ import annotations

import asyncio
from collections import Counter
from decimal import Decimal

from tests.integration.customer.helpers import (
    CREDIT_WITHOUT_LOANS,
    CUSTOMERS,
    assert_credit_invariant,
    create_customer,
    credit_row,
    customer_body,
    error_code,
    fetch,
    fetchval,
    history_rows,
    release,
    reserve,
    reserve_ok,
    restore,
)


async def test_fifty_concurrent_reservations_never_exceed_the_available_credit(customer_service):
    client = customer_service.client
    cid = (await create_customer(client, creditLimit="1000.00"))["customerId"]

    responses = await asyncio.gather(*(reserve(client, cid, "100.00") for _ in range(50)))

    outcomes = Counter(
        "OK" if r.status_code == 200 else f"{r.status_code} {error_code(r)}" for r in responses
    )
    assert outcomes == {"OK": 10, "422 INSUFFICIENT_CREDIT": 40}
    credit = await credit_row(customer_service, cid)
    assert credit["available_credit"] == Decimal("0.00")
    active = await fetch(
        customer_service,
        "SELECT reserved_amount FROM credit_reservations"
        " WHERE customer_id = $1 AND status = 'ACTIVE'",
        cid,
    )
    assert len(active) == 10
    assert sum(r["reserved_amount"] for r in active) + credit["available_credit"] == Decimal(
        "1000.00"
    )
    history = await history_rows(customer_service, cid)
    afters = [h["new_available_credit"] for h in history]
    assert min(afters) == Decimal("0.00")
    assert [h["transaction_type"] for h in history].count("CREDIT_RESERVED") == 10
    await assert_credit_invariant(customer_service, cid)


async def test_concurrent_reservations_of_uneven_amounts_fit_the_limit(customer_service):
    client = customer_service.client
    cid = (await create_customer(client, creditLimit="1000.00"))["customerId"]
    amounts = ["333.33", "250.00", "199.99", "123.45", "77.77", "500.00", "10.01", "400.00"] * 3

    responses = await asyncio.gather(*(reserve(client, cid, a) for a in amounts))

    assert {r.status_code for r in responses} <= {200, 422}
    reserved = sum(
        (Decimal(a) for a, r in zip(amounts, responses, strict=True) if r.status_code == 200),
        Decimal("0.00"),
    )
    credit = await credit_row(customer_service, cid)
    assert reserved + credit["available_credit"] == Decimal("1000.00")
    assert credit["available_credit"] >= Decimal("0.00")
    refused = [a for a, r in zip(amounts, responses, strict=True) if r.status_code == 422]
    assert all(Decimal(a) > credit["available_credit"] for a in refused)
    await assert_credit_invariant(customer_service, cid)


@CREDIT_WITHOUT_LOANS
async def test_concurrent_releases_of_one_reservation_release_it_once(customer_service):
    client = customer_service.client
    cid = (await create_customer(client, creditLimit="1000.00"))["customerId"]
    reservation = await reserve_ok(client, cid, "400.00")

    responses = await asyncio.gather(
        *(release(client, cid, reservation["reservationId"], used="100.00") for _ in range(10))
    )

    codes = Counter(
        "OK" if r.status_code == 200 else f"{r.status_code} {error_code(r)}" for r in responses
    )
    assert codes == {"OK": 1, "422 RESERVATION_NOT_ACTIVE": 9}
    credit = await credit_row(customer_service, cid)
    assert credit["used_credit"] == Decimal("100.00")
    assert credit["available_credit"] == Decimal("900.00")
    await assert_credit_invariant(customer_service, cid)


@CREDIT_WITHOUT_LOANS
async def test_concurrent_restores_with_one_reference_restore_once(customer_service):
    client = customer_service.client
    cid = (await create_customer(client, creditLimit="1000.00"))["customerId"]
    reservation = await reserve_ok(client, cid, "500.00")
    await release(client, cid, reservation["reservationId"], used="500.00")

    responses = await asyncio.gather(
        *(restore(client, cid, "200.00", "PAY-RACE") for _ in range(10))
    )

    assert [r.status_code for r in responses] == [200] * 10
    credit = await credit_row(customer_service, cid)
    assert credit["used_credit"] == Decimal("300.00")
    assert credit["available_credit"] == Decimal("700.00")
    restored = await fetchval(
        customer_service,
        "SELECT count(*) FROM credit_history WHERE customer_id = $1"
        " AND transaction_type = 'CREDIT_RESTORED'",
        cid,
    )
    assert restored == 1
    await assert_credit_invariant(customer_service, cid)


@CREDIT_WITHOUT_LOANS
async def test_reserving_and_releasing_concurrently_keeps_the_books_balanced(customer_service):
    client = customer_service.client
    cid = (await create_customer(client, creditLimit="1000.00"))["customerId"]
    held = [await reserve_ok(client, cid, "100.00") for _ in range(5)]

    await asyncio.gather(
        *(release(client, cid, r["reservationId"], used="25.00") for r in held),
        *(reserve(client, cid, "150.00") for _ in range(6)),
    )

    credit = await credit_row(customer_service, cid)
    assert credit["used_credit"] == Decimal("125.00")
    await assert_credit_invariant(customer_service, cid)


async def test_concurrent_creations_with_one_email_create_one_customer(customer_service):
    client = customer_service.client
    email = "race@example.com"

    responses = await asyncio.gather(
        *(
            client.post(CUSTOMERS, json=customer_body(email=email.upper() if n % 2 else email))
            for n in range(10)
        )
    )

    outcomes = Counter(
        "OK" if r.status_code == 201 else f"{r.status_code} {error_code(r)}" for r in responses
    )
    assert outcomes == {"OK": 1, "409 DUPLICATE_EMAIL": 9}
    count = await fetchval(
        customer_service, "SELECT count(*) FROM customers WHERE email = $1", email
    )
    assert count == 1


async def test_concurrent_primary_addresses_leave_exactly_one_primary(customer_service):
    client = customer_service.client
    cid = (await create_customer(client))["customerId"]
    body = {
        "city": "Springfield",
        "state": "IL",
        "zipCode": "62701",
        "country": "USA",
        "isPrimary": True,
    }

    responses = await asyncio.gather(
        *(
            client.post(f"{CUSTOMERS}/{cid}/addresses", json={**body, "street": f"{n} Race St"})
            for n in range(10)
        )
    )

    assert [r.status_code for r in responses] == [201] * 10
    rows = await fetch(
        customer_service,
        "SELECT is_primary FROM customer_addresses WHERE customer_id = $1",
        cid,
    )
    assert len(rows) == 10
    assert [r["is_primary"] for r in rows].count(True) == 1
