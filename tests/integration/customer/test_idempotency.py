"""Idempotency-Key on the customer service's POSTs (api.md §1 "Idempotency")."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from tests.integration.customer.helpers import (
    CREDIT_WITHOUT_LOANS,
    CUSTOMERS,
    assert_credit_invariant,
    create_customer,
    credit_row,
    customer_body,
    data,
    error_code,
    fetch,
    fetchval,
    parse,
    post_raw,
    release,
    reserve,
    reserve_ok,
    restore,
    update_customer,
)


async def _reservation_count(service, cid: str) -> int:
    return await fetchval(
        service, "SELECT count(*) FROM credit_reservations WHERE customer_id = $1", cid
    )


async def test_a_repeated_reservation_replays_the_first_answer(customer_service):
    client = customer_service.client
    cid = (await create_customer(client, creditLimit="1000.00"))["customerId"]
    key = {"Idempotency-Key": "reserve-once-1"}

    first = await reserve(client, cid, "250.00", headers=key)
    second = await reserve(client, cid, "250.00", headers=key)

    assert first.status_code == second.status_code == 200
    assert "idempotent-replayed" not in first.headers
    assert second.headers["idempotent-replayed"] == "true"
    assert data(second) == data(first)
    assert '"availableCreditAfter":750.00,' in second.text
    assert await _reservation_count(customer_service, cid) == 1
    assert (await credit_row(customer_service, cid))["available_credit"] == Decimal("750.00")
    await assert_credit_invariant(customer_service, cid)


async def test_a_repeated_customer_creation_replays_201_and_creates_one(customer_service):
    client = customer_service.client
    body = customer_body(creditLimit="321.00")
    key = {"Idempotency-Key": "create-once-1"}

    first = await client.post(CUSTOMERS, json=body, headers=key)
    second = await client.post(CUSTOMERS, json=body, headers=key)

    assert first.status_code == second.status_code == 201
    assert second.headers["idempotent-replayed"] == "true"
    assert data(second) == data(first)
    assert parse(second)["message"] == parse(first)["message"]
    rows = await fetch(
        customer_service, "SELECT customer_id FROM customers WHERE email = $1", body["email"]
    )
    assert [r["customer_id"] for r in rows] == [data(first)["customerId"]]


async def test_the_same_key_with_a_different_body_is_refused(customer_service):
    client = customer_service.client
    cid = (await create_customer(client, creditLimit="1000.00"))["customerId"]
    key = {"Idempotency-Key": "reused-key-1"}
    assert (await reserve(client, cid, "100.00", headers=key)).status_code == 200

    response = await reserve(client, cid, "200.00", headers=key)

    assert response.status_code == 422
    assert error_code(response) == "IDEMPOTENCY_KEY_REUSED"
    assert await _reservation_count(customer_service, cid) == 1
    assert (await credit_row(customer_service, cid))["available_credit"] == Decimal("900.00")


async def test_the_same_key_on_another_endpoint_is_refused(customer_service):
    client = customer_service.client
    cid = (await create_customer(client, creditLimit="1000.00"))["customerId"]
    key = {"Idempotency-Key": "reused-key-2"}
    assert (await reserve(client, cid, "100.00", headers=key)).status_code == 200

    response = await client.post(CUSTOMERS, json=customer_body(), headers=key)

    assert response.status_code == 422
    assert error_code(response) == "IDEMPOTENCY_KEY_REUSED"


async def test_the_same_body_with_its_keys_in_another_order_is_the_same_request(
    customer_service,
):
    client = customer_service.client
    cid = (await create_customer(client, creditLimit="1000.00"))["customerId"]
    url = f"{CUSTOMERS}/{cid}/credit/reserve"
    key = {"Idempotency-Key": "reordered-1"}

    first = await post_raw(client, url, '{"amount": 100.00, "purpose": "LOAN"}', key)
    second = await post_raw(client, url, '{"purpose": "LOAN", "amount": 100.00}', key)

    assert first.status_code == 200, first.text
    assert second.status_code == 200, second.text
    assert second.headers["idempotent-replayed"] == "true"
    assert data(second)["reservationId"] == data(first)["reservationId"]
    assert await _reservation_count(customer_service, cid) == 1


async def test_concurrent_requests_with_one_key_reserve_once(customer_service):
    client = customer_service.client
    cid = (await create_customer(client, creditLimit="1000.00"))["customerId"]
    key = {"Idempotency-Key": "concurrent-key-1"}

    responses = await asyncio.gather(
        *(reserve(client, cid, "100.00", headers=key) for _ in range(20))
    )

    assert [r.status_code for r in responses] == [200] * 20
    assert len({data(r)["reservationId"] for r in responses}) == 1
    replayed = [r.headers.get("idempotent-replayed") for r in responses]
    assert replayed.count("true") == 19
    assert await _reservation_count(customer_service, cid) == 1
    assert (await credit_row(customer_service, cid))["available_credit"] == Decimal("900.00")
    await assert_credit_invariant(customer_service, cid)


async def test_a_refused_request_does_not_use_up_its_key(customer_service):
    client = customer_service.client
    cid = (await create_customer(client, creditLimit="100.00"))["customerId"]
    key = {"Idempotency-Key": "refused-then-ok-1"}

    refused = await reserve(client, cid, "500.00", headers=key)
    assert refused.status_code == 422
    assert error_code(refused) == "INSUFFICIENT_CREDIT"
    assert (await update_customer(client, cid, creditLimit="1000.00")).status_code == 200
    retried = await reserve(client, cid, "500.00", headers=key)

    assert retried.status_code == 200, retried.text
    assert "idempotent-replayed" not in retried.headers
    assert await _reservation_count(customer_service, cid) == 1


@CREDIT_WITHOUT_LOANS
async def test_a_repeated_release_replays_instead_of_refusing(customer_service):
    client = customer_service.client
    cid = (await create_customer(client, creditLimit="1000.00"))["customerId"]
    reservation = await reserve_ok(client, cid, "400.00")
    key = {"Idempotency-Key": "release-once-1"}

    first = await release(client, cid, reservation["reservationId"], used="100.00", headers=key)
    second = await release(client, cid, reservation["reservationId"], used="100.00", headers=key)

    assert first.status_code == second.status_code == 200
    assert second.headers["idempotent-replayed"] == "true"
    assert data(second) == data(first)
    assert (await credit_row(customer_service, cid))["used_credit"] == Decimal("100.00")
    await assert_credit_invariant(customer_service, cid)


@CREDIT_WITHOUT_LOANS
async def test_a_repeated_restore_replays_the_first_answer(customer_service):
    client = customer_service.client
    cid = (await create_customer(client, creditLimit="1000.00"))["customerId"]
    reservation = await reserve_ok(client, cid, "400.00")
    await release(client, cid, reservation["reservationId"], used="400.00")
    key = {"Idempotency-Key": "restore-once-1"}

    first = await restore(client, cid, "100.00", "PAY-IDEM", headers=key)
    second = await restore(client, cid, "100.00", "PAY-IDEM", headers=key)

    assert first.status_code == second.status_code == 200
    assert second.headers["idempotent-replayed"] == "true"
    assert data(second) == data(first)
    assert (await credit_row(customer_service, cid))["used_credit"] == Decimal("300.00")
    await assert_credit_invariant(customer_service, cid)


async def test_a_repeated_address_creation_adds_one_address(customer_service):
    client = customer_service.client
    cid = (await create_customer(client))["customerId"]
    body = {
        "street": "1 Once St",
        "city": "Springfield",
        "state": "IL",
        "zipCode": "62701",
        "country": "USA",
    }
    key = {"Idempotency-Key": "address-once-1"}

    first = await client.post(f"{CUSTOMERS}/{cid}/addresses", json=body, headers=key)
    second = await client.post(f"{CUSTOMERS}/{cid}/addresses", json=body, headers=key)

    assert first.status_code == second.status_code == 201
    assert data(second)["addressId"] == data(first)["addressId"]
    count = await fetchval(
        customer_service, "SELECT count(*) FROM customer_addresses WHERE customer_id = $1", cid
    )
    assert count == 1


async def test_an_overlong_idempotency_key_is_refused(customer_service):
    client = customer_service.client
    cid = (await create_customer(client))["customerId"]

    response = await reserve(client, cid, "1.00", headers={"Idempotency-Key": "k" * 256})

    assert response.status_code == 400
    assert error_code(response) == "VALIDATION_ERROR"
    assert await _reservation_count(customer_service, cid) == 0
