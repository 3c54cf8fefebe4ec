"""Reading loans (api.md §3): one loan with its payment picture, its installments with a summary,
a customer's loans and the officers' list, filtered and paged newest first."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.integration.loan.conftest import new_customer
from tests.integration.loan.helpers import (
    LOANS,
    PLAYS_THE_PAYMENT_SERVICE,
    act,
    active_loan,
    create,
    data,
    error,
    get_loan,
    pay,
    schedule,
    whole,
)


@PLAYS_THE_PAYMENT_SERVICE
async def test_a_loan_shows_its_progress_and_payment_history(system):
    loan = await active_loan(
        system,
        "reader",
        disbursement_date="2025-12-20",
        installmentCount=6,
        applicationDate="2025-12-10",
    )
    shown = await get_loan(system, loan["loanId"])
    assert shown["loanId"] == loan["loanId"]
    assert (shown["paidInstallments"], shown["remainingInstallments"]) == (0, 6)
    assert shown["nextInstallmentDate"] == shown["installments"][0]["dueDate"]
    assert shown["paymentHistory"] == {
        "totalPaid": Decimal("0.00"),
        "lastPaymentDate": None,
        "lastPaymentAmount": None,
        "earlyPaymentDiscount": Decimal("0.00"),
        "latePaymentPenalty": Decimal("0.00"),
    }
    assert shown["application"]["applicationId"] == loan["applicationId"]

    first, second = shown["installments"][:2]
    assert first["dueDate"] == "2026-01-01"
    # 33 days late at 0.1% a day.
    penalty = (first["totalAmount"] * Decimal("0.033")).quantize(Decimal("0.01"))
    paid = await pay(
        system,
        loan["loanId"],
        "PAY-READ-1",
        loan["version"],
        [{**whole(first), "penaltyPaid": str(penalty), "discountApplied": "0.00"}],
        paid_at="2026-02-03T10:00:00Z",
    )
    assert paid.status_code == 200, paid.text
    shown = await get_loan(system, loan["loanId"])
    assert (shown["paidInstallments"], shown["remainingInstallments"]) == (1, 5)
    assert shown["nextInstallmentDate"] == second["dueDate"]
    history = shown["paymentHistory"]
    assert history["totalPaid"] == first["totalAmount"] + penalty
    assert history["lastPaymentAmount"] == first["totalAmount"] + penalty
    assert history["lastPaymentDate"] == "2026-02-03T10:00:00.000Z"
    assert history["latePaymentPenalty"] == penalty


async def test_an_unknown_loan_is_404(system):
    for path in (f"{LOANS}/LOAN-NOPE", f"{LOANS}/LOAN-NOPE/installments"):
        response = await system.loan.client.get(path)
        assert response.status_code == 404, path
        assert error(response)["code"] == "NOT_FOUND"


async def test_the_installments_summary_of_a_new_loan(system):
    customer = await new_customer(system.customer.client)
    loan = await create(system, customer["customerId"])
    shown = await schedule(system, loan["loanId"])
    assert shown["loanId"] == loan["loanId"]
    assert shown["totalInstallments"] == 12
    summary = shown["summary"]
    assert summary["totalPrincipal"] == Decimal("12000.00")
    assert summary["totalAmount"] == loan["totalRepaymentAmount"]
    assert summary["totalInterest"] == loan["totalRepaymentAmount"] - Decimal("12000.00")
    assert summary["paidAmount"] == Decimal("0.00")
    assert summary["remainingAmount"] == loan["totalRepaymentAmount"]
    assert summary["nextDueDate"] == shown["installments"][0]["dueDate"]
    assert summary["nextDueAmount"] == Decimal("1066.19")


@PLAYS_THE_PAYMENT_SERVICE
async def test_the_installments_summary_follows_payments(system):
    loan = await active_loan(system, "summary", installmentCount=6)
    rows = (await schedule(system, loan["loanId"]))["installments"]
    first, second = rows[:2]
    paid = await pay(
        system,
        loan["loanId"],
        "PAY-SUM-1",
        loan["version"],
        [
            whole(first),
            {
                "installmentNumber": 2,
                "principalPaid": "100.00",
                "interestPaid": str(second["interestAmount"]),
            },
        ],
    )
    assert paid.status_code == 200, paid.text
    shown = await schedule(system, loan["loanId"])
    part = second["interestAmount"] + Decimal("100.00")
    summary = shown["summary"]
    assert summary["paidAmount"] == first["totalAmount"] + part
    assert summary["remainingAmount"] == summary["totalAmount"] - summary["paidAmount"]
    assert summary["nextDueDate"] == second["dueDate"]
    assert summary["nextDueAmount"] == second["totalAmount"] - part
    statuses = [i["status"] for i in shown["installments"]]
    assert statuses == ["PAID", "PARTIALLY_PAID", "PENDING", "PENDING", "PENDING", "PENDING"]
    assert shown["installments"][1]["remainingAmount"] == second["totalAmount"] - part
    assert shown["installments"][1]["paidAmount"] == part


@PLAYS_THE_PAYMENT_SERVICE
async def test_a_paid_off_loan_has_nothing_due(system):
    loan = await active_loan(system, "done", installmentCount=6)
    rows = (await schedule(system, loan["loanId"]))["installments"]
    paid = await pay(system, loan["loanId"], "PAY-ALL", loan["version"], [whole(r) for r in rows])
    assert paid.status_code == 200, paid.text
    summary = (await schedule(system, loan["loanId"]))["summary"]
    assert summary["remainingAmount"] == Decimal("0.00")
    assert summary["paidAmount"] == summary["totalAmount"]
    assert (summary["nextDueDate"], summary["nextDueAmount"]) == (None, None)
    shown = await get_loan(system, loan["loanId"])
    assert (shown["paidInstallments"], shown["remainingInstallments"]) == (6, 0)
    assert shown["nextInstallmentDate"] is None


# --- lists -----------------------------------------------------------------------------------


async def _portfolio(system):
    """One customer with four loans of three statuses and three types, and another customer."""
    mine = (await new_customer(system.customer.client, tag="mine"))["customerId"]
    other = (await new_customer(system.customer.client, tag="other"))["customerId"]
    made = []
    for kind in ("PERSONAL", "AUTO", "AUTO", "MORTGAGE"):
        made.append(await create(system, mine, loanType=kind, loanAmount="1000.00"))
    cancelled = await act(system, made[0]["loanId"], "cancel", {"reason": "changed my mind"})
    assert cancelled.status_code == 200
    disbursed = await act(system, made[1]["loanId"], "disburse")
    assert disbursed.status_code == 200
    theirs = await create(system, other, loanType="AUTO", loanAmount="1000.00")
    return mine, [m["loanId"] for m in made], theirs["loanId"]


def _ids(response) -> list[str]:
    return [loan["loanId"] for loan in data(response)["content"]]


async def test_a_customers_loans_are_listed_newest_first_and_filtered(system):
    mine, made, theirs = await _portfolio(system)
    url = f"{LOANS}/customer/{mine}"

    everything = await system.loan.client.get(url)
    assert everything.status_code == 200
    page = data(everything)
    assert _ids(everything) == made[::-1]
    assert theirs not in _ids(everything)
    assert (page["page"], page["size"], page["totalElements"], page["totalPages"]) == (0, 20, 4, 1)

    approved = await system.loan.client.get(url, params={"status": "APPROVED"})
    assert _ids(approved) == [made[3], made[2]]
    assert {loan["status"] for loan in data(approved)["content"]} == {"APPROVED"}

    autos = await system.loan.client.get(url, params={"loanType": "AUTO"})
    assert _ids(autos) == [made[2], made[1]]

    active_autos = await system.loan.client.get(
        url, params={"loanType": "AUTO", "status": "ACTIVE"}
    )
    assert _ids(active_autos) == [made[1]]
    assert data(active_autos)["totalElements"] == 1

    none = await system.loan.client.get(url, params={"status": "PAID_OFF"})
    assert data(none)["content"] == [] and data(none)["totalElements"] == 0


async def test_a_customers_loans_are_paged(system):
    mine, made, _ = await _portfolio(system)
    url = f"{LOANS}/customer/{mine}"
    first = data(await system.loan.client.get(url, params={"size": 3, "page": 0}))
    second = data(await system.loan.client.get(url, params={"size": 3, "page": 1}))
    beyond = data(await system.loan.client.get(url, params={"size": 3, "page": 2}))
    assert [x["loanId"] for x in first["content"]] == made[::-1][:3]
    assert [x["loanId"] for x in second["content"]] == made[::-1][3:]
    assert beyond["content"] == []
    assert (first["totalElements"], first["totalPages"], second["page"]) == (4, 2, 1)


async def test_a_customer_without_loans_has_an_empty_list(system):
    response = await system.loan.client.get(f"{LOANS}/customer/CUST-NO-LOANS")
    assert response.status_code == 200
    assert data(response)["content"] == [] and data(response)["totalElements"] == 0


async def test_officers_list_every_loan_by_status(system):
    _, made, theirs = await _portfolio(system)
    everything = await system.loan.client.get(LOANS)
    assert _ids(everything) == [theirs, *made[::-1]]

    approved = await system.loan.client.get(LOANS, params={"status": "APPROVED"})
    assert _ids(approved) == [theirs, made[3], made[2]]
    cancelled = await system.loan.client.get(LOANS, params={"status": "CANCELLED"})
    assert _ids(cancelled) == [made[0]]
    paged = data(await system.loan.client.get(LOANS, params={"status": "APPROVED", "size": 2}))
    assert (len(paged["content"]), paged["totalElements"], paged["totalPages"]) == (2, 3, 2)


@pytest.mark.parametrize(
    "params",
    [
        {"status": "SLEEPING"},
        {"loanType": "YACHT"},
        {"page": -1},
        {"size": 0},
        {"size": 101},
        {"page": "first"},
    ],
)
async def test_bad_list_parameters_are_400(system, params):
    for url in (LOANS, f"{LOANS}/customer/CUST-ANY"):
        response = await system.loan.client.get(url, params=params)
        assert response.status_code == 400, (url, params, response.text)
        assert error(response)["code"] == "VALIDATION_ERROR"
