"""Loan products: the default products are today's rules; administrators create and change
products (every change a new version, kept); officers read them; customers list only those on
offer. Refusals name every problem, and leave the products as they were."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import asyncpg
import pytest

from elms.core.principal import CUSTOMER_HEADER, ROLE_HEADER, USER_HEADER
from tests.conftest import bearer
from tests.integration.loan.conftest import body

ADMIN = {USER_HEADER: "ada", ROLE_HEADER: "ADMIN"}
OFFICER = {USER_HEADER: "olly", ROLE_HEADER: "LOAN_OFFICER"}
CUSTOMER = {USER_HEADER: "cleo", ROLE_HEADER: "CUSTOMER", CUSTOMER_HEADER: "CUST-1"}
PRODUCTS = "/api/v1/loan-products"

AUTO36 = {
    "productCode": "AUTO36",
    "name": "Auto loan, 36 months",
    "loanType": "AUTO",
    "minAmount": "5000.00",
    "maxAmount": "80000.00",
    "minRate": "0.079",
    "maxRate": "0.079",
    "installmentCounts": [36],
    "penaltyGraceDays": 5,
}


async def _create(client, product: dict[str, Any]) -> dict[str, Any]:
    created = await client.post(PRODUCTS, json=product, headers=ADMIN)
    assert created.status_code == 201, created.text
    return body(created)["data"]


async def _stored(client) -> list[dict[str, Any]]:
    """Every version of every product, as an officer reads them."""
    listed = body(await client.get(PRODUCTS, params={"size": 100}, headers=OFFICER))["data"]
    versions = []
    for product in listed["content"]:
        found = await client.get(f"{PRODUCTS}/{product['productCode']}/versions", headers=OFFICER)
        versions += body(found)["data"]
    return versions


async def test_the_default_products_are_the_rules_elms_had_before_products(loan_client):
    listed = await loan_client.get(PRODUCTS, headers=OFFICER)
    assert listed.status_code == 200, listed.text
    products = {p["productCode"]: p for p in body(listed)["data"]["content"]}
    assert set(products) == {"AUTO", "BUSINESS", "EDUCATION", "MORTGAGE", "PERSONAL"}
    personal = products["PERSONAL"]
    assert personal["loanType"] == "PERSONAL"
    assert personal["version"] == 1 and personal["active"] is True
    assert (personal["minRate"], personal["maxRate"]) == (Decimal("0.1"), Decimal("0.5"))
    assert personal["installmentCounts"] == [6, 9, 12, 24]
    assert personal["interestMethods"] == ["DECLINING_BALANCE", "FLAT"]
    assert personal["earlyDiscountRate"] == personal["latePenaltyRate"] == Decimal("0.001")
    assert (personal["penaltyGraceDays"], personal["penaltyCapRatio"]) == (0, None)
    assert personal["processingFees"] == {}
    assert personal["allocationOrder"] == "INTEREST_PRINCIPAL_PENALTY"
    assert personal["underwriting"] == {
        "minCreditScore": 700,
        "maxInstallmentToIncome": Decimal("0.4"),
        "allowedRiskLevels": ["LOW", "MEDIUM"],
    }
    assert [b["minDays"] for b in personal["delinquencyBuckets"]] == [0, 1, 31, 61, 91, 181]


async def test_an_administrator_creates_a_product_that_states_only_how_it_differs(loan_client):
    created = await _create(loan_client, AUTO36)
    assert created["version"] == 1 and created["createdBy"] == "ada"
    assert created["installmentCounts"] == [36]
    assert created["minRate"] == created["maxRate"] == Decimal("0.079")
    assert created["penaltyGraceDays"] == 5
    assert created["latePenaltyRate"] == Decimal("0.001")  # the standard terms where unstated
    read = body(await loan_client.get(f"{PRODUCTS}/AUTO36", headers=OFFICER))["data"]
    assert read == created

    again = await loan_client.post(PRODUCTS, json=AUTO36, headers=ADMIN)
    assert again.status_code == 409
    assert body(again)["error"]["code"] == "PRODUCT_EXISTS"


async def test_a_product_that_contradicts_itself_is_refused_with_every_problem(loan_client):
    before = await _stored(loan_client)
    refused = await loan_client.post(
        PRODUCTS,
        json={
            **AUTO36,
            "minAmount": "90000.00",  # above maxAmount
            "maxRate": "0.6",  # beyond the schema's 0.5
            "interestMethods": ["FLAT"],
            "defaultInterestMethod": "DECLINING_BALANCE",  # not in its list
            "allocationOrder": "PRINCIPAL_FIRST",
            "delinquencyBuckets": [
                {"name": "CURRENT", "minDays": 0},
                {"name": "LATE", "minDays": 30},
                {"name": "LATER", "minDays": 30},
            ],
        },
        headers=ADMIN,
    )
    assert refused.status_code == 400, refused.text
    error = body(refused)["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert {d["field"] for d in error["details"]} == {
        "minAmount",
        "maxRate",
        "defaultInterestMethod",
        "allocationOrder",
        "delinquencyBuckets",
    }
    assert await _stored(loan_client) == before


async def test_a_bucket_name_is_a_word_of_capitals(loan_client):
    """Bucket names are stored on each loan and sent in events."""
    before = await _stored(loan_client)
    buckets = [{"name": "CURRENT", "minDays": 0}, {"name": "Late 90+", "minDays": 90}]
    refused = await loan_client.post(
        PRODUCTS, json={**AUTO36, "delinquencyBuckets": buckets}, headers=ADMIN
    )
    assert refused.status_code == 400, refused.text
    assert [d["field"] for d in body(refused)["error"]["details"]] == ["delinquencyBuckets.1.name"]
    assert await _stored(loan_client) == before


async def test_a_change_is_a_new_version_made_from_the_current_one(loan_client):
    await _create(loan_client, AUTO36)
    terms = {k: v for k, v in AUTO36.items() if k != "productCode"}
    changed = await loan_client.put(
        f"{PRODUCTS}/AUTO36",
        json={**terms, "version": 1, "latePenaltyRate": "0.002"},
        headers=ADMIN,
    )
    assert changed.status_code == 200, changed.text
    assert body(changed)["data"]["version"] == 2

    stale = await loan_client.put(
        f"{PRODUCTS}/AUTO36", json={**terms, "version": 1, "penaltyGraceDays": 9}, headers=ADMIN
    )
    assert stale.status_code == 409
    assert body(stale)["error"]["code"] == "VERSION_CONFLICT"

    versions = body(await loan_client.get(f"{PRODUCTS}/AUTO36/versions", headers=OFFICER))["data"]
    assert [(v["version"], v["latePenaltyRate"]) for v in versions] == [
        (1, Decimal("0.001")),
        (2, Decimal("0.002")),
    ]
    assert versions[1]["penaltyGraceDays"] == 5  # the stale change made nothing

    other_type = await loan_client.put(
        f"{PRODUCTS}/AUTO36", json={**terms, "version": 2, "loanType": "PERSONAL"}, headers=ADMIN
    )
    assert other_type.status_code == 400
    assert [d["field"] for d in body(other_type)["error"]["details"]] == ["loanType"]

    missing = await loan_client.put(f"{PRODUCTS}/NOPE", json={**terms, "version": 1}, headers=ADMIN)
    assert missing.status_code == 404


async def test_the_loan_service_itself_refuses_products_to_all_but_administrators(loan_client):
    for who in (OFFICER, CUSTOMER):
        refused = await loan_client.post(PRODUCTS, json=AUTO36, headers=who)
        assert refused.status_code == 403, who
    customer_list = await loan_client.get(PRODUCTS, headers=CUSTOMER)
    assert customer_list.status_code == 403
    assert (await loan_client.get(f"{PRODUCTS}/AUTO", headers=CUSTOMER)).status_code == 403
    offered = await loan_client.get(PRODUCTS, params={"active": "true"}, headers=CUSTOMER)
    assert offered.status_code == 200
    shown = body(offered)["data"]["content"][0]
    assert (shown["underwriting"], shown["createdBy"]) == (None, None)
    assert shown["installmentCounts"] == [6, 9, 12, 24]
    assert (await loan_client.get(f"{PRODUCTS}/AUTO36", headers=OFFICER)).status_code == 404


@pytest.mark.parametrize("role", ["LOAN_OFFICER", "CUSTOMER"])
async def test_through_the_gateway_only_an_administrator_changes_products(
    gateway, loan_client, system, role
):
    token = bearer(system.settings, role, "CUST-1" if role == "CUSTOMER" else None)
    before = await _stored(loan_client)
    refused = await gateway.client.post(PRODUCTS, json=AUTO36, headers={"Authorization": token})
    assert refused.status_code == 403
    terms = {k: v for k, v in AUTO36.items() if k != "productCode"}
    refused = await gateway.client.put(
        f"{PRODUCTS}/AUTO",
        json={**terms, "loanType": "AUTO", "version": 1},
        headers={"Authorization": token},
    )
    assert refused.status_code == 403
    assert await _stored(loan_client) == before

    offered = await gateway.client.get(
        PRODUCTS, params={"active": "true"}, headers={"Authorization": token}
    )
    assert offered.status_code == 200
    assert {p["productCode"] for p in body(offered)["data"]["content"]} >= {"AUTO", "PERSONAL"}


async def test_customers_through_the_gateway_see_only_the_products_on_offer(
    gateway, loan_client, system
):
    await _create(loan_client, {**AUTO36, "active": False})
    token = {"Authorization": bearer(system.settings, "CUSTOMER", "CUST-1")}
    everything = await gateway.client.get(PRODUCTS, headers=token)
    assert everything.status_code == 403
    offered = await gateway.client.get(PRODUCTS, params={"active": "true"}, headers=token)
    assert "AUTO36" not in {p["productCode"] for p in body(offered)["data"]["content"]}
    one = await gateway.client.get(f"{PRODUCTS}/AUTO", headers=token)
    assert one.status_code == 403
    admin = await gateway.client.get(f"{PRODUCTS}/AUTO36")
    assert admin.status_code == 200 and body(admin)["data"]["active"] is False


async def test_a_loan_under_an_unknown_inactive_or_other_product_is_refused(loan_client):
    await _create(loan_client, AUTO36)
    await _create(loan_client, {**AUTO36, "productCode": "AUTO-OLD", "active": False})
    request = {
        "customerId": "CUST-ANY",
        "loanAmount": "10000.00",
        "interestRate": "0.079",
        "installmentCount": 36,
        "loanType": "AUTO",
    }
    unknown = await loan_client.post(
        "/api/v1/loans/preview", json={**request, "productCode": "NOPE"}
    )
    assert unknown.status_code == 404
    inactive = await loan_client.post("/api/v1/loans", json={**request, "productCode": "AUTO-OLD"})
    assert inactive.status_code == 422
    assert body(inactive)["error"]["code"] == "PRODUCT_NOT_AVAILABLE"
    other_type = await loan_client.post(
        "/api/v1/loans", json={**request, "loanType": "PERSONAL", "productCode": "AUTO36"}
    )
    assert other_type.status_code == 422
    assert body(other_type)["error"]["code"] == "PRODUCT_NOT_AVAILABLE"


async def test_a_request_outside_the_products_ranges_names_each_field_and_its_range(loan_client):
    await _create(loan_client, AUTO36)
    refused = await loan_client.post(
        "/api/v1/loans/preview",
        json={
            "loanAmount": "100.00",
            "interestRate": "0.12",
            "installmentCount": 24,
            "loanType": "AUTO",
            "productCode": "AUTO36",
        },
    )
    assert refused.status_code == 400, refused.text
    found = {d["field"]: d["message"] for d in body(refused)["error"]["details"]}
    assert set(found) == {"loanAmount", "interestRate", "installmentCount"}
    assert "5000.00 and 80000.00 for product AUTO36" in found["loanAmount"]
    assert "0.0790 and 0.0790 for product AUTO36" in found["interestRate"]
    assert "must be one of 36 for product AUTO36" in found["installmentCount"]

    preview = await loan_client.post(
        "/api/v1/loans/preview",
        json={
            "loanAmount": "10000.00",
            "interestRate": "0.079",
            "installmentCount": 36,
            "loanType": "AUTO",
            "productCode": "AUTO36",
        },
    )
    assert preview.status_code == 200, preview.text
    schedule = body(preview)["data"]
    assert (schedule["productCode"], len(schedule["installments"])) == ("AUTO36", 36)
    assert (
        sum(r["totalAmount"] for r in schedule["installments"]) == schedule["totalRepaymentAmount"]
    )


async def test_a_product_version_is_never_changed_or_removed_even_past_the_api(system):
    async with system.loan.app.state.db.transaction() as conn:
        with pytest.raises(asyncpg.IntegrityConstraintViolationError, match="never changed"):
            await conn.execute(
                "UPDATE loan_product_versions SET late_penalty_rate = 0.002"
                " WHERE product_code = 'PERSONAL'"
            )
    async with system.loan.app.state.db.transaction() as conn:
        with pytest.raises(asyncpg.IntegrityConstraintViolationError, match="never changed"):
            await conn.execute("DELETE FROM loan_product_versions WHERE product_code = 'AUTO'")


async def test_active_is_true_or_false_never_a_number(loan_client):
    refused = await loan_client.post(PRODUCTS, json={**AUTO36, "active": 0}, headers=ADMIN)
    assert refused.status_code == 400
    assert [d["field"] for d in body(refused)["error"]["details"]] == ["active"]
