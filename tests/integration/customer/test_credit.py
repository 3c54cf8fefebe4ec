"""Credit: reserve, release, restore, reservations and history (api.md §2).

Every flow ends by checking the invariant in customer_db: available = limit − used − Σ ACTIVE
reservations, and the credit history chains up to today's available credit."""

from __future__ import annotations

import itertools
from datetime import timedelta
from decimal import Decimal

import pytest

from tests.integration.customer.helpers import (
    CREDIT_WITHOUT_LOANS,
    CUSTOMERS,
    assert_credit_invariant,
    create_customer,
    credit_row,
    data,
    error_code,
    error_fields,
    fetch,
    get_customer,
    history_rows,
    naive_utc,
    post_raw,
    release,
    reserve,
    reserve_ok,
    restore,
    update_customer,
)

# --- reserve --------------------------------------------------------------------------------


async def test_reserving_credit_answers_the_reservation_and_the_credit_around_it(
    customer_service,
):
    client = customer_service.client
    cid = (await create_customer(client, creditLimit="10000.00"))["customerId"]

    response = await reserve(
        client, cid, "2500.10", purpose="Car loan", loanApplicationId="APP-123", notes="n"
    )

    assert response.status_code == 200, response.text
    body = data(response)
    assert body["reservationId"].startswith("RES-")
    assert body["customerId"] == cid
    assert body["reservedAmount"] == Decimal("2500.10")
    assert body["availableCreditBefore"] == Decimal("10000.00")
    assert body["availableCreditAfter"] == Decimal("7499.90")
    assert body["purpose"] == "Car loan"
    assert body["loanApplicationId"] == "APP-123"
    assert body["status"] == "ACTIVE"
    assert body["reservationExpiry"].endswith("Z")
    assert '"reservedAmount":2500.10,' in response.text
    assert '"availableCreditAfter":7499.90,' in response.text
    customer = await get_customer(client, cid)
    assert customer["availableCredit"] == Decimal("7499.90")
    assert customer["usedCredit"] == Decimal("0.00")
    await assert_credit_invariant(customer_service, cid)


async def test_a_reservation_is_stored_active_with_its_expiry(customer_service):
    client = customer_service.client
    cid = (await create_customer(client))["customerId"]

    default = await reserve_ok(client, cid, "10.00")
    hour = await reserve_ok(client, cid, "20.00", reservationTimeout=3600)

    rows = {
        r["reservation_id"]: r
        for r in await fetch(
            customer_service,
            "SELECT reservation_id, status, reserved_amount, created_at, expires_at"
            " FROM credit_reservations WHERE customer_id = $1",
            cid,
        )
    }
    assert rows[default["reservationId"]]["status"] == "ACTIVE"
    assert rows[default["reservationId"]]["reserved_amount"] == Decimal("10.00")
    lifetime = rows[default["reservationId"]]
    assert lifetime["expires_at"] - lifetime["created_at"] == timedelta(seconds=300)
    longer = rows[hour["reservationId"]]
    assert longer["expires_at"] - longer["created_at"] == timedelta(seconds=3600)
    assert naive_utc(hour["reservationExpiry"]) == longer["expires_at"].replace(
        microsecond=longer["expires_at"].microsecond // 1000 * 1000
    )


async def test_reserving_all_the_available_credit_is_allowed(customer_service):
    client = customer_service.client
    cid = (await create_customer(client, creditLimit="500.00"))["customerId"]

    body = await reserve_ok(client, cid, "500.00")

    assert body["availableCreditAfter"] == Decimal("0.00")
    await assert_credit_invariant(customer_service, cid)


async def test_reserving_more_than_available_is_refused(customer_service):
    client = customer_service.client
    cid = (await create_customer(client, creditLimit="500.00"))["customerId"]
    await reserve_ok(client, cid, "400.00")

    response = await reserve(client, cid, "100.01")

    assert response.status_code == 422
    assert error_code(response) == "INSUFFICIENT_CREDIT"
    assert (await credit_row(customer_service, cid))["available_credit"] == Decimal("100.00")
    reservations = await fetch(
        customer_service, "SELECT * FROM credit_reservations WHERE customer_id = $1", cid
    )
    assert len(reservations) == 1
    await assert_credit_invariant(customer_service, cid)


@pytest.mark.parametrize("status", ["SUSPENDED", "CLOSED"])
async def test_a_customer_that_is_not_active_cannot_reserve(customer_service, status):
    client = customer_service.client
    cid = (await create_customer(client))["customerId"]
    assert (await update_customer(client, cid, accountStatus=status)).status_code == 200

    response = await reserve(client, cid, "10.00")

    assert response.status_code == 422
    assert error_code(response) == "CUSTOMER_NOT_ACTIVE"
    assert (await credit_row(customer_service, cid))["available_credit"] == Decimal("10000.00")


@pytest.mark.parametrize("amount", ["0", "0.00", "-5.00"])
async def test_a_reservation_of_zero_or_less_is_refused(customer_service, amount):
    cid = (await create_customer(customer_service.client))["customerId"]

    response = await reserve(customer_service.client, cid, amount)

    assert response.status_code == 400
    assert error_code(response) == "VALIDATION_ERROR"
    assert error_fields(response) == ["amount"]


async def test_a_reservation_amount_with_three_decimals_is_refused(customer_service):
    cid = (await create_customer(customer_service.client))["customerId"]

    response = await post_raw(
        customer_service.client,
        f"{CUSTOMERS}/{cid}/credit/reserve",
        '{"amount": 12.345, "purpose": "LOAN"}',
    )

    assert response.status_code == 400
    assert error_fields(response) == ["amount"]


async def test_a_reservation_amount_as_a_raw_number_is_read_exactly(customer_service):
    cid = (await create_customer(customer_service.client))["customerId"]

    response = await post_raw(
        customer_service.client,
        f"{CUSTOMERS}/{cid}/credit/reserve",
        '{"amount": 0.30, "purpose": "LOAN"}',
    )

    assert response.status_code == 200, response.text
    assert '"availableCreditAfter":9999.70,' in response.text
    assert '"reservedAmount":0.30,' in response.text


@pytest.mark.parametrize("seconds", [0, 86401, "60"])
async def test_a_reservation_timeout_outside_one_second_to_one_day_is_refused(
    customer_service, seconds
):
    cid = (await create_customer(customer_service.client))["customerId"]

    response = await reserve(customer_service.client, cid, "10.00", reservationTimeout=seconds)

    assert response.status_code == 400
    assert error_fields(response) == ["reservationTimeout"]


async def test_a_reservation_reports_every_invalid_field(customer_service):
    cid = (await create_customer(customer_service.client))["customerId"]

    response = await customer_service.client.post(
        f"{CUSTOMERS}/{cid}/credit/reserve",
        json={"amount": "-1", "purpose": "", "reservationTimeout": 0},
    )

    assert response.status_code == 400
    assert sorted(error_fields(response)) == ["amount", "purpose", "reservationTimeout"]


async def test_reserving_for_an_unknown_customer_is_not_found(customer_service):
    response = await reserve(customer_service.client, "CUST-NOPE", "10.00")

    assert response.status_code == 404
    assert error_code(response) == "NOT_FOUND"


# --- release --------------------------------------------------------------------------------


async def test_releasing_with_nothing_used_returns_everything(customer_service):
    client = customer_service.client
    cid = (await create_customer(client, creditLimit="1000.00"))["customerId"]
    reservation = await reserve_ok(client, cid, "400.00")

    response = await release(client, cid, reservation["reservationId"], used="0")

    assert response.status_code == 200, response.text
    body = data(response)
    assert body["reservationId"] == reservation["reservationId"]
    assert body["status"] == "RELEASED"
    assert body["availableCreditBefore"] == Decimal("600.00")
    assert body["availableCreditAfter"] == Decimal("1000.00")
    assert body["actualAmountUsed"] == Decimal("0.00")
    assert body["usedCredit"] == Decimal("0.00")
    rows = await fetch(
        customer_service,
        "SELECT status, released_at FROM credit_reservations WHERE reservation_id = $1",
        reservation["reservationId"],
    )
    assert rows[0]["status"] == "RELEASED"
    assert rows[0]["released_at"] is not None
    history = await history_rows(customer_service, cid)
    assert history[-1]["transaction_type"] == "CREDIT_RELEASED"
    assert history[-1]["amount"] == Decimal("400.00")
    await assert_credit_invariant(customer_service, cid)


async def test_releasing_without_an_amount_used_means_nothing_used(customer_service):
    client = customer_service.client
    cid = (await create_customer(client, creditLimit="1000.00"))["customerId"]
    reservation = await reserve_ok(client, cid, "400.00")

    response = await release(client, cid, reservation["reservationId"])

    assert response.status_code == 200, response.text
    assert data(response)["status"] == "RELEASED"
    assert data(response)["availableCreditAfter"] == Decimal("1000.00")
    await assert_credit_invariant(customer_service, cid)


@CREDIT_WITHOUT_LOANS
async def test_releasing_with_an_amount_used_makes_it_used_credit(customer_service):
    client = customer_service.client
    cid = (await create_customer(client, creditLimit="1000.00"))["customerId"]
    reservation = await reserve_ok(client, cid, "400.00")

    response = await release(client, cid, reservation["reservationId"], used="250.55")

    assert response.status_code == 200, response.text
    body = data(response)
    assert body["status"] == "USED"
    assert body["actualAmountUsed"] == Decimal("250.55")
    assert body["availableCreditBefore"] == Decimal("600.00")
    assert body["availableCreditAfter"] == Decimal("749.45")
    assert body["usedCredit"] == Decimal("250.55")
    customer = await get_customer(client, cid)
    assert customer["usedCredit"] == Decimal("250.55")
    assert customer["availableCredit"] == Decimal("749.45")
    history = await history_rows(customer_service, cid)
    assert [(h["transaction_type"], h["amount"]) for h in history[-2:]] == [
        ("CREDIT_USED", Decimal("250.55")),
        ("CREDIT_RELEASED", Decimal("149.45")),
    ]
    await assert_credit_invariant(customer_service, cid)


@CREDIT_WITHOUT_LOANS
async def test_using_the_whole_reservation_returns_nothing(customer_service):
    client = customer_service.client
    cid = (await create_customer(client, creditLimit="1000.00"))["customerId"]
    reservation = await reserve_ok(client, cid, "400.00")

    response = await release(client, cid, reservation["reservationId"], used="400.00")

    assert response.status_code == 200, response.text
    assert data(response)["status"] == "USED"
    assert data(response)["availableCreditAfter"] == Decimal("600.00")
    history = await history_rows(customer_service, cid)
    assert history[-1]["transaction_type"] == "CREDIT_USED"
    assert history[-2]["transaction_type"] == "CREDIT_RESERVED"
    await assert_credit_invariant(customer_service, cid)


@CREDIT_WITHOUT_LOANS
@pytest.mark.parametrize("used", ["0", "100.00"])
async def test_releasing_twice_is_refused(customer_service, used):
    client = customer_service.client
    cid = (await create_customer(client))["customerId"]
    reservation = await reserve_ok(client, cid, "400.00")
    assert (await release(client, cid, reservation["reservationId"], used=used)).status_code == 200
    after_first = await credit_row(customer_service, cid)

    response = await release(client, cid, reservation["reservationId"], used=used)

    assert response.status_code == 422
    assert error_code(response) == "RESERVATION_NOT_ACTIVE"
    assert await credit_row(customer_service, cid) == after_first
    await assert_credit_invariant(customer_service, cid)


async def test_releasing_an_unknown_reservation_is_not_found(customer_service):
    cid = (await create_customer(customer_service.client))["customerId"]

    response = await release(customer_service.client, cid, "RES-DOES-NOT-EXIST")

    assert response.status_code == 404
    assert error_code(response) == "NOT_FOUND"


async def test_releasing_another_customers_reservation_is_not_found(customer_service):
    client = customer_service.client
    owner = (await create_customer(client))["customerId"]
    other = (await create_customer(client))["customerId"]
    reservation = await reserve_ok(client, owner, "100.00")

    response = await release(client, other, reservation["reservationId"])

    assert response.status_code == 404
    assert (await credit_row(customer_service, owner))["available_credit"] == Decimal("9900.00")
    assert (await credit_row(customer_service, other))["available_credit"] == Decimal("10000.00")


async def test_using_more_than_was_reserved_is_refused(customer_service):
    client = customer_service.client
    cid = (await create_customer(client))["customerId"]
    reservation = await reserve_ok(client, cid, "400.00")

    response = await release(client, cid, reservation["reservationId"], used="400.01")

    assert response.status_code == 422
    assert error_code(response) == "INVALID_AMOUNT_USED"
    rows = await fetch(
        customer_service,
        "SELECT status FROM credit_reservations WHERE reservation_id = $1",
        reservation["reservationId"],
    )
    assert rows[0]["status"] == "ACTIVE"
    await assert_credit_invariant(customer_service, cid)


async def test_a_negative_amount_used_is_refused(customer_service):
    client = customer_service.client
    cid = (await create_customer(client))["customerId"]
    reservation = await reserve_ok(client, cid, "400.00")

    response = await release(client, cid, reservation["reservationId"], used="-1.00")

    assert response.status_code == 400
    assert error_fields(response) == ["actualAmountUsed"]


async def test_a_suspended_customer_may_still_release(customer_service):
    client = customer_service.client
    cid = (await create_customer(client))["customerId"]
    reservation = await reserve_ok(client, cid, "400.00")
    assert (await update_customer(client, cid, accountStatus="SUSPENDED")).status_code == 200

    response = await release(client, cid, reservation["reservationId"])

    assert response.status_code == 200, response.text
    await assert_credit_invariant(customer_service, cid)


# --- reservations list ----------------------------------------------------------------------


@CREDIT_WITHOUT_LOANS
async def test_reservations_are_listed_and_filtered_by_status(customer_service):
    client = customer_service.client
    cid = (await create_customer(client))["customerId"]
    released = await reserve_ok(client, cid, "100.00")
    used = await reserve_ok(client, cid, "200.00")
    active = await reserve_ok(client, cid, "300.00")
    await release(client, cid, released["reservationId"])
    await release(client, cid, used["reservationId"], used="50.00")

    everything = data(await client.get(f"{CUSTOMERS}/{cid}/credit/reservations"))
    only_active = data(
        await client.get(f"{CUSTOMERS}/{cid}/credit/reservations", params={"status": "ACTIVE"})
    )
    only_used = data(
        await client.get(f"{CUSTOMERS}/{cid}/credit/reservations", params={"status": "USED"})
    )

    assert everything["totalElements"] == 3
    assert [r["reservationId"] for r in everything["content"]] == [
        active["reservationId"],
        used["reservationId"],
        released["reservationId"],
    ]
    assert [r["reservationId"] for r in only_active["content"]] == [active["reservationId"]]
    assert only_active["content"][0]["reservedAmount"] == Decimal("300.00")
    assert only_active["content"][0]["reservationExpiry"] == active["reservationExpiry"]
    assert [r["reservationId"] for r in only_used["content"]] == [used["reservationId"]]
    assert only_used["content"][0]["actualAmountUsed"] == Decimal("50.00")


async def test_reservations_are_paged(customer_service):
    client = customer_service.client
    cid = (await create_customer(client))["customerId"]
    for _ in range(3):
        await reserve_ok(client, cid, "1.00")

    page = data(
        await client.get(f"{CUSTOMERS}/{cid}/credit/reservations", params={"size": 2, "page": 1})
    )

    assert (page["page"], page["size"], page["totalElements"], page["totalPages"]) == (1, 2, 3, 2)
    assert len(page["content"]) == 1


async def test_reservations_of_an_unknown_customer_are_not_found(customer_service):
    response = await customer_service.client.get(f"{CUSTOMERS}/CUST-NOPE/credit/reservations")

    assert response.status_code == 404


async def test_an_unknown_reservation_status_filter_is_refused(customer_service):
    cid = (await create_customer(customer_service.client))["customerId"]

    response = await customer_service.client.get(
        f"{CUSTOMERS}/{cid}/credit/reservations", params={"status": "PENDING"}
    )

    assert response.status_code == 400
    assert error_fields(response) == ["status"]


# --- restore --------------------------------------------------------------------------------


async def _customer_using(client, used: str, limit: str = "1000.00") -> str:
    cid = (await create_customer(client, creditLimit=limit))["customerId"]
    reservation = await reserve_ok(client, cid, used)
    response = await release(client, cid, reservation["reservationId"], used=used)
    assert response.status_code == 200, response.text
    return cid


@CREDIT_WITHOUT_LOANS
async def test_restoring_credit_moves_used_credit_back_to_available(customer_service):
    client = customer_service.client
    cid = await _customer_using(client, "600.00")

    response = await restore(client, cid, "150.25", "PAY-1")

    assert response.status_code == 200, response.text
    body = data(response)
    assert body["availableCreditBefore"] == Decimal("400.00")
    assert body["availableCreditAfter"] == Decimal("550.25")
    assert body["usedCredit"] == Decimal("449.75")
    assert body["amount"] == Decimal("150.25")
    assert body["referenceId"] == "PAY-1"
    history = await history_rows(customer_service, cid)
    assert history[-1]["transaction_type"] == "CREDIT_RESTORED"
    assert history[-1]["reference_id"] == "PAY-1"
    await assert_credit_invariant(customer_service, cid)


@CREDIT_WITHOUT_LOANS
async def test_restoring_twice_with_one_reference_changes_nothing_the_second_time(
    customer_service,
):
    client = customer_service.client
    cid = await _customer_using(client, "600.00")
    first = await restore(client, cid, "100.00", "PAY-ONCE")
    after_first = await credit_row(customer_service, cid)

    second = await restore(client, cid, "100.00", "PAY-ONCE")

    assert second.status_code == 200, second.text
    assert data(second)["availableCreditBefore"] == data(first)["availableCreditBefore"]
    assert data(second)["availableCreditAfter"] == data(first)["availableCreditAfter"]
    assert await credit_row(customer_service, cid) == after_first
    restored = [
        h for h in await history_rows(customer_service, cid) if h["reference_id"] == "PAY-ONCE"
    ]
    assert len(restored) == 1
    await assert_credit_invariant(customer_service, cid)


@CREDIT_WITHOUT_LOANS
async def test_a_reference_reused_with_another_amount_is_refused(customer_service):
    client = customer_service.client
    cid = await _customer_using(client, "600.00")
    await restore(client, cid, "100.00", "PAY-X")

    response = await restore(client, cid, "200.00", "PAY-X")

    assert response.status_code == 409
    assert error_code(response) == "CONFLICT"
    assert (await credit_row(customer_service, cid))["used_credit"] == Decimal("500.00")


@CREDIT_WITHOUT_LOANS
async def test_restoring_more_than_is_used_is_refused(customer_service):
    client = customer_service.client
    cid = await _customer_using(client, "600.00")

    response = await restore(client, cid, "600.01", "PAY-TOO-MUCH")

    assert response.status_code == 422
    assert error_code(response) == "RESTORE_EXCEEDS_USED_CREDIT"
    assert (await credit_row(customer_service, cid))["used_credit"] == Decimal("600.00")
    await assert_credit_invariant(customer_service, cid)


async def test_restoring_all_used_credit_empties_it(customer_service):
    client = customer_service.client
    cid = await _customer_using(client, "600.00")

    response = await restore(client, cid, "600.00", "PAY-ALL")

    assert response.status_code == 200, response.text
    credit = await credit_row(customer_service, cid)
    assert credit["used_credit"] == Decimal("0.00")
    assert credit["available_credit"] == Decimal("1000.00")
    await assert_credit_invariant(customer_service, cid)


@CREDIT_WITHOUT_LOANS
@pytest.mark.parametrize("amount", ["0", "-1.00", "1.001"])
async def test_a_restore_of_a_bad_amount_is_refused(customer_service, amount):
    client = customer_service.client
    cid = await _customer_using(client, "600.00")

    response = await restore(client, cid, amount, "PAY-BAD")

    assert response.status_code == 400
    assert error_fields(response) == ["amount"]


async def test_restoring_for_an_unknown_customer_is_not_found(customer_service):
    response = await restore(customer_service.client, "CUST-NOPE", "1.00", "PAY-1")

    assert response.status_code == 404


# --- history --------------------------------------------------------------------------------


async def _busy_customer(client) -> str:
    """SET, RESERVED ×3, RELEASED, USED, RELEASED, LIMIT_CHANGED, RESTORED."""
    cid = (await create_customer(client, creditLimit="1000.00"))["customerId"]
    first = await reserve_ok(client, cid, "100.00")
    second = await reserve_ok(client, cid, "200.00")
    await reserve_ok(client, cid, "50.00")
    await release(client, cid, first["reservationId"])
    await release(client, cid, second["reservationId"], used="150.00")
    assert (await update_customer(client, cid, creditLimit="2000.00")).status_code == 200
    assert (await restore(client, cid, "40.00", "PAY-H")).status_code == 200
    return cid


@CREDIT_WITHOUT_LOANS
async def test_credit_history_lists_every_change_newest_first(customer_service):
    client = customer_service.client
    cid = await _busy_customer(client)

    response = await client.get(f"{CUSTOMERS}/{cid}/credit/history")

    assert response.status_code == 200
    assert '"amount":40.00,' in response.text
    assert '"newAvailableCredit":1000.00,' in response.text
    page = data(response)
    kinds = [h["transactionType"] for h in page["content"]]
    assert kinds == [
        "CREDIT_RESTORED",
        "CREDIT_LIMIT_CHANGED",
        "CREDIT_RELEASED",
        "CREDIT_USED",
        "CREDIT_RELEASED",
        "CREDIT_RESERVED",
        "CREDIT_RESERVED",
        "CREDIT_RESERVED",
        "CREDIT_LIMIT_SET",
    ]
    assert page["totalElements"] == 9
    entries = page["content"]
    for newer, older in itertools.pairwise(entries):
        assert newer["createdAt"] >= older["createdAt"]
        assert newer["previousAvailableCredit"] == older["newAvailableCredit"]
    assert entries[0]["newAvailableCredit"] == (await get_customer(client, cid))["availableCredit"]
    assert entries[0]["referenceId"] == "PAY-H"
    assert entries[0]["referenceType"] == "PAYMENT"
    assert entries[-1]["previousAvailableCredit"] == Decimal("0.00")
    assert entries[-1]["newAvailableCredit"] == Decimal("1000.00")
    await assert_credit_invariant(customer_service, cid)


@CREDIT_WITHOUT_LOANS
async def test_credit_history_is_filtered_by_transaction_type(customer_service):
    client = customer_service.client
    cid = await _busy_customer(client)

    reserved = data(
        await client.get(
            f"{CUSTOMERS}/{cid}/credit/history", params={"transactionType": "CREDIT_RESERVED"}
        )
    )
    released = data(
        await client.get(
            f"{CUSTOMERS}/{cid}/credit/history", params={"transactionType": "CREDIT_RELEASED"}
        )
    )

    assert reserved["totalElements"] == 3
    assert {h["transactionType"] for h in reserved["content"]} == {"CREDIT_RESERVED"}
    assert [h["amount"] for h in reserved["content"]] == [
        Decimal("50.00"),
        Decimal("200.00"),
        Decimal("100.00"),
    ]
    assert all(h["referenceType"] == "RESERVATION" for h in reserved["content"])
    assert [h["amount"] for h in released["content"]] == [Decimal("50.00"), Decimal("100.00")]


async def test_credit_history_is_filtered_by_dates(customer_service):
    client = customer_service.client
    cid = (await create_customer(client, creditLimit="1000.00"))["customerId"]
    reservation = await reserve_ok(client, cid, "100.00")
    await release(client, cid, reservation["reservationId"])
    dated = {
        "CREDIT_LIMIT_SET": "2025-01-10 12:00:00",
        "CREDIT_RESERVED": "2025-02-15 00:00:00",
        "CREDIT_RELEASED": "2025-03-20 23:59:59.999",
    }
    for kind, moment in dated.items():
        await fetch(
            customer_service,
            "UPDATE credit_history SET created_at = $3::text::timestamp"
            " WHERE customer_id = $1 AND transaction_type = $2",
            cid,
            kind,
            moment,
        )

    async def kinds(**params):
        response = await client.get(f"{CUSTOMERS}/{cid}/credit/history", params=params)
        assert response.status_code == 200, response.text
        return [h["transactionType"] for h in data(response)["content"]]

    assert await kinds(fromDate="2025-02-01", toDate="2025-02-28") == ["CREDIT_RESERVED"]
    assert await kinds(fromDate="2025-02-15") == ["CREDIT_RELEASED", "CREDIT_RESERVED"]
    assert await kinds(fromDate="2025-02-16") == ["CREDIT_RELEASED"]
    assert await kinds(toDate="2025-03-20") == [
        "CREDIT_RELEASED",
        "CREDIT_RESERVED",
        "CREDIT_LIMIT_SET",
    ]
    assert await kinds(toDate="2025-03-19") == ["CREDIT_RESERVED", "CREDIT_LIMIT_SET"]
    assert await kinds(fromDate="2025-01-10", toDate="2025-01-10") == ["CREDIT_LIMIT_SET"]
    assert await kinds(fromDate="2025-04-01") == []
    assert await kinds(fromDate="2025-02-01", transactionType="CREDIT_LIMIT_SET") == []


async def test_credit_history_refuses_a_from_date_after_the_to_date(customer_service):
    cid = (await create_customer(customer_service.client))["customerId"]

    response = await customer_service.client.get(
        f"{CUSTOMERS}/{cid}/credit/history",
        params={"fromDate": "2025-02-02", "toDate": "2025-02-01"},
    )

    assert response.status_code == 400
    assert error_fields(response) == ["fromDate"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"transactionType": "CREDIT_STOLEN"}, "transactionType"),
        ({"fromDate": "2025-13-01"}, "fromDate"),
        ({"toDate": "yesterday"}, "toDate"),
        ({"size": 101}, "size"),
    ],
)
async def test_credit_history_refuses_bad_filters(customer_service, params, field):
    cid = (await create_customer(customer_service.client))["customerId"]

    response = await customer_service.client.get(f"{CUSTOMERS}/{cid}/credit/history", params=params)

    assert response.status_code == 400
    assert error_fields(response) == [field]


@CREDIT_WITHOUT_LOANS
async def test_credit_history_is_paged(customer_service):
    client = customer_service.client
    cid = await _busy_customer(client)

    first = data(await client.get(f"{CUSTOMERS}/{cid}/credit/history", params={"size": 4}))
    last = data(
        await client.get(f"{CUSTOMERS}/{cid}/credit/history", params={"size": 4, "page": 2})
    )

    assert (first["totalElements"], first["totalPages"], len(first["content"])) == (9, 3, 4)
    assert [h["transactionType"] for h in last["content"]] == ["CREDIT_LIMIT_SET"]


async def test_credit_history_of_an_unknown_customer_is_not_found(customer_service):
    response = await customer_service.client.get(f"{CUSTOMERS}/CUST-NOPE/credit/history")

    assert response.status_code == 404
    assert error_code(response) == "NOT_FOUND"
