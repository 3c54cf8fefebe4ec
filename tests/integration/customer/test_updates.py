"""PUT /api/v1/customers/{id}: partial updates, optimistic locking, limits and status moves."""

from __future__ import annotations

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
    get_customer,
    history_rows,
    release,
    reserve_ok,
    unique_email,
    update_customer,
)


async def test_an_update_changes_only_the_fields_given(customer_service):
    client = customer_service.client
    created = await create_customer(
        client, firstName="Old", lastName="Name", phone="+15550001111", creditScore=700
    )

    response = await client.put(
        f"{CUSTOMERS}/{created['customerId']}", json={"version": 1, "firstName": "New"}
    )

    assert response.status_code == 200, response.text
    updated = data(response)
    assert updated["firstName"] == "New"
    assert updated["lastName"] == "Name"
    assert updated["phone"] == "+15550001111"
    assert updated["email"] == created["email"]
    assert updated["creditLimit"] == Decimal("10000.00")
    assert updated["version"] == 2
    assert (await get_customer(client, created["customerId"]))["firstName"] == "New"


async def test_the_version_may_come_in_if_match(customer_service):
    client = customer_service.client
    created = await create_customer(client)

    response = await client.put(
        f"{CUSTOMERS}/{created['customerId']}",
        json={"lastName": "Etag"},
        headers={"If-Match": '"1"'},
    )

    assert response.status_code == 200, response.text
    assert data(response)["lastName"] == "Etag"
    assert data(response)["version"] == 2


async def test_a_stale_version_is_refused_with_version_conflict(customer_service):
    client = customer_service.client
    created = await create_customer(client, firstName="Kept")
    first = await client.put(
        f"{CUSTOMERS}/{created['customerId']}", json={"version": 1, "firstName": "First"}
    )
    assert first.status_code == 200

    stale = await client.put(
        f"{CUSTOMERS}/{created['customerId']}", json={"version": 1, "firstName": "Second"}
    )

    assert stale.status_code == 409
    assert error_code(stale) == "VERSION_CONFLICT"
    customer = await get_customer(client, created["customerId"])
    assert customer["firstName"] == "First"
    assert customer["version"] == 2


async def test_a_stale_version_in_if_match_is_refused(customer_service):
    client = customer_service.client
    created = await create_customer(client)
    await update_customer(client, created["customerId"], firstName="Bump")

    response = await client.put(
        f"{CUSTOMERS}/{created['customerId']}", json={"firstName": "X"}, headers={"If-Match": "1"}
    )

    assert response.status_code == 409
    assert error_code(response) == "VERSION_CONFLICT"


async def test_an_update_without_a_version_is_refused(customer_service):
    client = customer_service.client
    created = await create_customer(client, firstName="Same")

    response = await client.put(f"{CUSTOMERS}/{created['customerId']}", json={"firstName": "X"})

    assert response.status_code == 400
    assert error_code(response) == "VALIDATION_ERROR"
    assert error_fields(response) == ["version"]
    assert (await get_customer(client, created["customerId"]))["firstName"] == "Same"


async def test_an_unreadable_if_match_is_refused(customer_service):
    created = await create_customer(customer_service.client)

    response = await customer_service.client.put(
        f"{CUSTOMERS}/{created['customerId']}", json={}, headers={"If-Match": "latest"}
    )

    assert response.status_code == 400
    assert error_fields(response) == ["If-Match"]


async def test_updating_an_unknown_customer_is_not_found(customer_service):
    response = await customer_service.client.put(
        f"{CUSTOMERS}/CUST-NOPE", json={"version": 1, "firstName": "X"}
    )

    assert response.status_code == 404
    assert error_code(response) == "NOT_FOUND"


async def test_an_update_reports_every_invalid_field(customer_service):
    created = await create_customer(customer_service.client)

    response = await customer_service.client.put(
        f"{CUSTOMERS}/{created['customerId']}",
        json={"version": 1, "email": "nope", "creditScore": 200, "employmentStatus": "PIRATE"},
    )

    assert response.status_code == 400
    assert sorted(error_fields(response)) == ["creditScore", "email", "employmentStatus"]


async def test_a_new_credit_score_recomputes_the_risk_level(customer_service):
    client = customer_service.client
    created = await create_customer(client, creditScore=600)
    assert created["riskLevel"] == "HIGH"

    response = await update_customer(client, created["customerId"], creditScore=745)

    assert response.status_code == 200, response.text
    assert data(response)["riskLevel"] == "LOW"


async def test_changing_the_email_to_anothers_is_refused(customer_service):
    client = customer_service.client
    taken = await create_customer(client, email=unique_email("taken"))
    mover = await create_customer(client)

    response = await update_customer(client, mover["customerId"], email=taken["email"].upper())

    assert response.status_code == 409
    assert error_code(response) == "DUPLICATE_EMAIL"
    assert (await get_customer(client, mover["customerId"]))["email"] == mover["email"]


async def test_changing_the_identification_number_to_anothers_is_refused(customer_service):
    client = customer_service.client
    await create_customer(client, identificationNumber="TAKEN-1", identificationType="PASSPORT")
    mover = await create_customer(client, identificationNumber="MINE-1", identificationType="SSN")

    response = await update_customer(client, mover["customerId"], identificationNumber="TAKEN-1")

    assert response.status_code == 409
    assert error_code(response) == "DUPLICATE_IDENTIFICATION"


# --- credit limit ---------------------------------------------------------------------------


async def _customer_with_usage(client, limit="10000.00"):
    """A customer with 1000.00 used and 2000.00 actively reserved."""
    customer = await create_customer(client, creditLimit=limit)
    cid = customer["customerId"]
    first = await reserve_ok(client, cid, "3000.00")
    response = await release(client, cid, first["reservationId"], used="1000.00")
    assert response.status_code == 200, response.text
    await reserve_ok(client, cid, "2000.00")
    return cid


@CREDIT_WITHOUT_LOANS
async def test_a_new_credit_limit_recomputes_available_credit(customer_service):
    client = customer_service.client
    cid = await _customer_with_usage(client)

    response = await update_customer(client, cid, creditLimit="5000.00")

    assert response.status_code == 200, response.text
    updated = data(response)
    assert updated["creditLimit"] == Decimal("5000.00")
    assert updated["usedCredit"] == Decimal("1000.00")
    assert updated["availableCredit"] == Decimal("2000.00")
    assert '"availableCredit":2000.00,' in response.text
    history = await history_rows(customer_service, cid)
    change = history[-1]
    assert change["transaction_type"] == "CREDIT_LIMIT_CHANGED"
    assert change["previous_available_credit"] == Decimal("7000.00")
    assert change["new_available_credit"] == Decimal("2000.00")
    await assert_credit_invariant(customer_service, cid)


@CREDIT_WITHOUT_LOANS
async def test_raising_the_credit_limit_adds_to_available_credit(customer_service):
    client = customer_service.client
    cid = await _customer_with_usage(client)

    response = await update_customer(client, cid, creditLimit="12500.55")

    assert response.status_code == 200, response.text
    assert data(response)["availableCredit"] == Decimal("9500.55")
    await assert_credit_invariant(customer_service, cid)


@CREDIT_WITHOUT_LOANS
async def test_a_credit_limit_exactly_at_usage_leaves_nothing_available(customer_service):
    client = customer_service.client
    cid = await _customer_with_usage(client)

    response = await update_customer(client, cid, creditLimit="3000.00")

    assert response.status_code == 200, response.text
    assert data(response)["availableCredit"] == Decimal("0.00")
    await assert_credit_invariant(customer_service, cid)


@CREDIT_WITHOUT_LOANS
async def test_a_credit_limit_below_usage_is_refused(customer_service):
    client = customer_service.client
    cid = await _customer_with_usage(client)
    before = await get_customer(client, cid)
    history_before = len(await history_rows(customer_service, cid))

    response = await update_customer(client, cid, creditLimit="2999.99", firstName="Not saved")

    assert response.status_code == 422
    assert error_code(response) == "CREDIT_LIMIT_BELOW_USAGE"
    after = await get_customer(client, cid)
    assert after["creditLimit"] == before["creditLimit"]
    assert after["availableCredit"] == before["availableCredit"]
    assert after["firstName"] == before["firstName"]
    assert after["version"] == before["version"]
    assert len(await history_rows(customer_service, cid)) == history_before
    await assert_credit_invariant(customer_service, cid)


async def test_an_unchanged_credit_limit_writes_no_history(customer_service):
    client = customer_service.client
    created = await create_customer(client, creditLimit="800.00")

    response = await update_customer(client, created["customerId"], creditLimit="800")

    assert response.status_code == 200
    history = await history_rows(customer_service, created["customerId"])
    assert [h["transaction_type"] for h in history] == ["CREDIT_LIMIT_SET"]


# --- account status -------------------------------------------------------------------------


async def test_an_account_moves_between_active_and_suspended(customer_service):
    client = customer_service.client
    cid = (await create_customer(client))["customerId"]

    suspended = await update_customer(client, cid, accountStatus="SUSPENDED")
    reactivated = await update_customer(client, cid, accountStatus="ACTIVE")

    assert suspended.status_code == 200, suspended.text
    assert data(suspended)["accountStatus"] == "SUSPENDED"
    assert reactivated.status_code == 200, reactivated.text
    assert data(reactivated)["accountStatus"] == "ACTIVE"


async def test_an_account_with_an_active_reservation_cannot_close(customer_service):
    client = customer_service.client
    cid = (await create_customer(client))["customerId"]
    reservation = await reserve_ok(client, cid, "100.00")

    refused = await update_customer(client, cid, accountStatus="CLOSED")
    assert refused.status_code == 422
    assert error_code(refused) == "CUSTOMER_HAS_ACTIVE_CREDIT"
    assert (await get_customer(client, cid))["accountStatus"] == "ACTIVE"

    assert (await release(client, cid, reservation["reservationId"])).status_code == 200
    closed = await update_customer(client, cid, accountStatus="CLOSED")
    assert closed.status_code == 200, closed.text
    assert data(closed)["accountStatus"] == "CLOSED"


@CREDIT_WITHOUT_LOANS
async def test_an_account_with_used_credit_cannot_close(customer_service):
    client = customer_service.client
    cid = (await create_customer(client))["customerId"]
    reservation = await reserve_ok(client, cid, "100.00")
    await release(client, cid, reservation["reservationId"], used="100.00")

    response = await update_customer(client, cid, accountStatus="CLOSED")

    assert response.status_code == 422
    assert error_code(response) == "CUSTOMER_HAS_ACTIVE_CREDIT"


@pytest.mark.parametrize("target", ["ACTIVE", "SUSPENDED"])
async def test_a_closed_account_stays_closed(customer_service, target):
    client = customer_service.client
    cid = (await create_customer(client))["customerId"]
    assert (await update_customer(client, cid, accountStatus="CLOSED")).status_code == 200

    response = await update_customer(client, cid, accountStatus=target)

    assert response.status_code == 422
    assert error_code(response) == "INVALID_STATUS_TRANSITION"
    assert (await get_customer(client, cid))["accountStatus"] == "CLOSED"


async def test_an_unknown_account_status_is_refused(customer_service):
    cid = (await create_customer(customer_service.client))["customerId"]

    response = await update_customer(customer_service.client, cid, accountStatus="FROZEN")

    assert response.status_code == 400
    assert error_fields(response) == ["accountStatus"]


# --- KYC ------------------------------------------------------------------------------------


async def test_kyc_moves_from_pending_to_verified(customer_service):
    client = customer_service.client
    cid = (await create_customer(client))["customerId"]

    response = await update_customer(client, cid, kycStatus="VERIFIED")

    assert response.status_code == 200, response.text
    assert data(response)["kycStatus"] == "VERIFIED"


async def test_kyc_moves_from_pending_to_rejected(customer_service):
    client = customer_service.client
    cid = (await create_customer(client))["customerId"]

    response = await update_customer(client, cid, kycStatus="REJECTED")

    assert response.status_code == 200, response.text
    assert data(response)["kycStatus"] == "REJECTED"


@pytest.mark.parametrize(("first", "then"), [("VERIFIED", "PENDING"), ("REJECTED", "VERIFIED")])
async def test_a_decided_kyc_status_cannot_move_again(customer_service, first, then):
    client = customer_service.client
    cid = (await create_customer(client))["customerId"]
    assert (await update_customer(client, cid, kycStatus=first)).status_code == 200

    response = await update_customer(client, cid, kycStatus=then)

    assert response.status_code == 422
    assert error_code(response) == "INVALID_STATUS_TRANSITION"
    assert (await get_customer(client, cid))["kycStatus"] == first


async def test_a_refused_update_changes_nothing_in_the_database(customer_service):
    client = customer_service.client
    cid = (await create_customer(client, creditLimit="500.00"))["customerId"]
    assert (await update_customer(client, cid, kycStatus="VERIFIED")).status_code == 200

    response = await update_customer(
        client, cid, kycStatus="PENDING", creditLimit="900.00", firstName="Changed"
    )

    assert response.status_code == 422
    credit = await credit_row(customer_service, cid)
    assert credit["credit_limit"] == Decimal("500.00")
    assert (await get_customer(client, cid))["firstName"] == "Ada"
