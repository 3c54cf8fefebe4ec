"""Every rule a loan is made and paid under comes from its product version: the same request
under two products gets each product's schedule, underwriting, discount, penalty and
allocation; and a product changed later leaves the loans already made with their own rules."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from elms.core.money import cents
from elms.core.principal import ROLE_HEADER, USER_HEADER
from tests.integration.loan.conftest import loan_request
from tests.integration.payment.helpers import (
    TODAY,
    borrower_with_loan,
    calculate,
    customer,
    data,
    due,
    installments,
)

ADMIN = {USER_HEADER: "ada", ROLE_HEADER: "ADMIN"}
PRODUCTS = "/api/v1/loan-products"


async def _product(system: Any, code: str, **terms: Any) -> dict[str, Any]:
    created = await system.loan.client.post(
        PRODUCTS,
        json={"productCode": code, "name": code.title(), "loanType": "PERSONAL", **terms},
        headers=ADMIN,
    )
    assert created.status_code == 201, created.text
    return data(created)


async def test_the_same_request_under_two_products_has_each_products_schedule_and_underwriting(
    system,
):
    await _product(
        system,
        "STRICT",
        interestMethods=["FLAT"],
        defaultInterestMethod="FLAT",
        underwriting={"minCreditScore": 800},
    )
    person = await customer(system, "twoproducts")  # credit score 760
    request = loan_request(person["customerId"], loanAmount="6000.00", installmentCount=6)

    standard = data(await system.loan.client.post("/api/v1/loans", json=request))
    strict = data(
        await system.loan.client.post("/api/v1/loans", json={**request, "productCode": "STRICT"})
    )

    assert (standard["productCode"], standard["productVersion"]) == ("PERSONAL", 1)
    assert (strict["productCode"], strict["productVersion"]) == ("STRICT", 1)
    assert (standard["interestMethod"], strict["interestMethod"]) == ("DECLINING_BALANCE", "FLAT")
    assert standard["installmentAmount"] != strict["installmentAmount"]
    assert standard["status"] == "APPROVED"
    assert strict["status"] == "PENDING_APPROVAL"
    [failed] = [c for c in strict["application"]["approvalConditions"]["checks"] if not c["passed"]]
    assert (failed["check"], failed["threshold"]) == ("CREDIT_SCORE", ">= 800")


async def test_the_same_payment_under_two_products_has_each_products_discount_penalty_and_order(
    system,
):
    await _product(
        system,
        "LATE-FEES",
        earlyDiscountRate="0.0005",
        latePenaltyRate="0.002",
        allocationOrder="PENALTY_INTEREST_PRINCIPAL",
    )
    standard = await borrower_with_loan(system, "std")
    priced = await borrower_with_loan(system, "late", productCode="LATE-FEES")
    terms = data(await system.loan.client.get(f"/api/v1/loans/{priced['loanId']}"))
    assert terms["paymentTerms"]["latePenaltyRate"] == Decimal("0.002")

    first = (await installments(system, priced["loanId"]))[0]
    late_days = (TODAY - due(first)).days
    remaining = first["remainingAmount"]

    quotes = {}
    for name, loan in (("standard", standard), ("priced", priced)):
        answer = await calculate(system, loan["loanId"], installmentNumbers=[1])
        assert answer.status_code == 200, answer.text
        quotes[name] = data(answer)["installmentBreakdown"][0]
    assert quotes["standard"]["penaltyApplied"] == cents(remaining * Decimal("0.001") * late_days)
    assert quotes["priced"]["penaltyApplied"] == cents(remaining * Decimal("0.002") * late_days)

    # Paid early: the discount is each product's.
    future = next(i for i in await installments(system, priced["loanId"]) if due(i) > TODAY)
    early_days = (due(future) - TODAY).days
    for name, loan, rate in (
        ("standard", standard, Decimal("0.001")),
        ("priced", priced, Decimal("0.0005")),
    ):
        numbers = list(range(1, future["installmentNumber"] + 1))
        answer = data(await calculate(system, loan["loanId"], installmentNumbers=numbers))
        row = answer["installmentBreakdown"][-1]
        expected = min(cents(future["remainingAmount"] * rate * early_days), row["interestPortion"])
        assert row["discountApplied"] == expected, name

    # A partial payment smaller than the penalty: penalty first under the priced product only.
    offer = "1.00"
    for name, loan in (("standard", standard), ("priced", priced)):
        answer = data(
            await calculate(system, loan["loanId"], paymentAmount=offer, isPartialPayment=True)
        )
        [row] = answer["installmentBreakdown"]
        taken = (row["penaltyApplied"], row["interestPortion"], row["principalPortion"])
        if name == "standard":
            assert taken == (Decimal("0.00"), Decimal("1.00"), Decimal("0.00"))
        else:
            assert taken == (Decimal("1.00"), Decimal("0.00"), Decimal("0.00"))


async def test_a_changed_product_leaves_the_loans_already_made_with_their_rules(system):
    made = await _product(system, "CHANGING", latePenaltyRate="0.001")
    old = await borrower_with_loan(system, "oldrules", productCode="CHANGING")
    terms = {k: v for k, v in made.items() if k in {"name", "loanType"}}
    changed = await system.loan.client.put(
        f"{PRODUCTS}/CHANGING",
        json={**terms, "version": 1, "latePenaltyRate": "0.003"},
        headers=ADMIN,
    )
    assert changed.status_code == 200, changed.text
    new = await borrower_with_loan(system, "newrules", productCode="CHANGING")

    assert (old["productVersion"], new["productVersion"]) == (1, 2)
    read_again = data(await system.loan.client.get(f"/api/v1/loans/{old['loanId']}"))
    assert read_again["productVersion"] == 1
    assert read_again["paymentTerms"]["latePenaltyRate"] == Decimal("0.001")

    first = (await installments(system, old["loanId"]))[0]
    late_days = (TODAY - due(first)).days
    assert late_days > 0
    for loan, rate in ((old, Decimal("0.001")), (new, Decimal("0.003"))):
        row = data(await calculate(system, loan["loanId"], installmentNumbers=[1]))[
            "installmentBreakdown"
        ][0]
        assert row["penaltyApplied"] == cents(first["remainingAmount"] * rate * late_days)
