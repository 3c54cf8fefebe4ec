"""`POST /api/v1/payments/calculate` (api.md §4): what paying would cost on a date, priced per
installment by its own due date, against a real loan service over HTTP."""

from __future__ import annotations

import calendar
from datetime import date, timedelta
from decimal import Decimal

import pytest

from tests.integration.loan.conftest import loan_request, new_customer
from tests.integration.payment.helpers import (
    CALCULATE,
    RATE,
    TODAY,
    ZERO,
    borrower_with_loan,
    calculate,
    cents,
    counts,
    data,
    due,
    error,
    fetch,
    fields,
    get_loan,
    installments,
    pay,
)


def _months_later(on: date, months: int) -> date:
    year, index = divmod(on.year * 12 + on.month - 1 + months, 12)
    return date(year, index + 1, min(on.day, calendar.monthrange(year, index + 1)[1]))


def _savings(schedule: list[dict], on: date) -> Decimal:
    """Every discount paying all payable installments on `on` would earn (the advice's
    savings opportunity, whatever amount the calculation was asked for)."""
    horizon = _months_later(on, 3)
    return sum(
        (
            min(cents(row["totalAmount"] * RATE * (due(row) - on).days), row["interestAmount"])
            for row in schedule
            if on < due(row) <= horizon
        ),
        ZERO,
    )


def _window(due_date: date) -> dict[str, str]:
    return {
        "earlyPaymentUntil": str(due_date - timedelta(days=1)),
        "gracePeriodUntil": str(due_date),
        "penaltyStartsFrom": str(due_date + timedelta(days=1)),
    }


async def test_an_installment_paid_ten_days_early_is_discounted_one_tenth_of_a_percent_a_day(
    system,
):
    loan = await borrower_with_loan(system, "early")
    schedule = await installments(system, loan["loanId"])
    first = schedule[0]
    on = due(first) - timedelta(days=10)

    response = await calculate(system, loan["loanId"], paymentDate=str(on), installmentNumbers=[1])

    assert response.status_code == 200, response.text
    result = data(response)
    total = first["totalAmount"]
    discount = cents(total * RATE * 10)
    assert discount > ZERO
    assert result["paymentDate"] == str(on)
    assert result["calculation"] == {
        "baseAmount": total,
        "discountAmount": discount,
        "penaltyAmount": ZERO,
        "finalAmount": total - discount,
        "earlyPaymentDays": 10,
        "latePaymentDays": 0,
        "discountRate": RATE,
        "penaltyRate": RATE,
    }
    # Rates keep their declared scale of six decimals (api.md §1).
    assert str(result["calculation"]["discountRate"]) == "0.001000"
    assert result["installmentBreakdown"] == [
        {
            "installmentNumber": 1,
            "dueDate": first["dueDate"],
            "originalAmount": total,
            "discountApplied": discount,
            "penaltyApplied": ZERO,
            "amountToPay": total - discount,
            "principalPortion": first["principalAmount"],
            "interestPortion": first["interestAmount"],
        }
    ]
    assert result["paymentAdvice"] == {
        "recommendedAmount": total - discount,
        "savingsOpportunity": _savings(schedule, on),
        "paymentWindow": _window(due(first)),
    }
    assert result["paymentAdvice"]["savingsOpportunity"] >= discount


async def test_installments_due_in_the_future_are_all_discounted_when_calculated_today(system):
    loan = await borrower_with_loan(system, "future", disbursed=TODAY)
    schedule = await installments(system, loan["loanId"])
    assert due(schedule[0]) > TODAY

    response = await calculate(system, loan["loanId"])

    assert response.status_code == 200, response.text
    result = data(response)
    assert result["paymentDate"] == str(TODAY)
    horizon = _months_later(TODAY, 3)
    payable = [row for row in schedule if due(row) <= horizon]
    breakdown = result["installmentBreakdown"]
    assert [r["installmentNumber"] for r in breakdown] == [r["installmentNumber"] for r in payable]
    for row, quoted in zip(payable, breakdown, strict=True):
        days = (due(row) - TODAY).days
        discount = min(cents(row["totalAmount"] * RATE * days), row["interestAmount"])
        assert quoted["discountApplied"] == discount > ZERO
        assert quoted["penaltyApplied"] == ZERO
        assert quoted["amountToPay"] == row["totalAmount"] - discount
    calculation = result["calculation"]
    assert calculation["earlyPaymentDays"] == (due(payable[-1]) - TODAY).days
    assert calculation["latePaymentDays"] == 0
    assert calculation["discountAmount"] == sum(r["discountApplied"] for r in breakdown)
    assert calculation["finalAmount"] == calculation["baseAmount"] - calculation["discountAmount"]
    advice = result["paymentAdvice"]
    # Nothing is due yet: the advice is the next installment, and the saving is every discount.
    assert advice["recommendedAmount"] == breakdown[0]["amountToPay"]
    assert advice["savingsOpportunity"] == calculation["discountAmount"]
    assert advice["paymentWindow"] == _window(due(schedule[0]))


async def test_an_installment_paid_seven_days_late_carries_a_penalty_and_no_discount(system):
    loan = await borrower_with_loan(system, "late")
    schedule = await installments(system, loan["loanId"])
    first = schedule[0]
    on = due(first) + timedelta(days=7)

    response = await calculate(system, loan["loanId"], paymentDate=str(on), installmentNumbers=[1])

    assert response.status_code == 200, response.text
    result = data(response)
    total = first["totalAmount"]
    penalty = cents(total * RATE * 7)
    assert penalty > ZERO
    calculation = result["calculation"]
    assert (calculation["discountAmount"], calculation["penaltyAmount"]) == (ZERO, penalty)
    assert calculation["finalAmount"] == total + penalty
    assert (calculation["earlyPaymentDays"], calculation["latePaymentDays"]) == (0, 7)
    [row] = result["installmentBreakdown"]
    assert (row["discountApplied"], row["penaltyApplied"]) == (ZERO, penalty)
    assert row["amountToPay"] == total + penalty
    assert result["paymentAdvice"] == {
        "recommendedAmount": total + penalty,
        "savingsOpportunity": _savings(schedule, on),
        "paymentWindow": _window(due(first)),
    }


async def test_calculating_today_prices_each_installment_by_its_own_due_date(system):
    loan = await borrower_with_loan(system, "mixed")
    schedule = await installments(system, loan["loanId"])

    response = await calculate(system, loan["loanId"])

    assert response.status_code == 200, response.text
    result = data(response)
    breakdown = result["installmentBreakdown"]
    late = [r for r in breakdown if date.fromisoformat(r["dueDate"]) < TODAY]
    assert len(late) >= 3  # disbursed 100 days ago: three due dates have passed
    by_number = {row["installmentNumber"]: row for row in schedule}
    for quoted in breakdown:
        row = by_number[quoted["installmentNumber"]]
        days = (due(row) - TODAY).days
        if days < 0:
            assert quoted["penaltyApplied"] == cents(row["totalAmount"] * RATE * -days)
            assert quoted["discountApplied"] == ZERO
        else:
            assert quoted["penaltyApplied"] == ZERO
            assert quoted["discountApplied"] == min(
                cents(row["totalAmount"] * RATE * days), row["interestAmount"]
            )
        assert quoted["amountToPay"] == (
            row["totalAmount"] - quoted["discountApplied"] + quoted["penaltyApplied"]
        )
    calculation = result["calculation"]
    assert calculation["latePaymentDays"] == (TODAY - due(schedule[0])).days
    assert calculation["penaltyAmount"] == sum(r["penaltyApplied"] for r in breakdown)
    assert calculation["finalAmount"] == sum(r["amountToPay"] for r in breakdown)
    # What settles everything due by today: the past-due installments with their penalties.
    due_now = [r for r in breakdown if date.fromisoformat(r["dueDate"]) <= TODAY]
    assert result["paymentAdvice"]["recommendedAmount"] == sum(r["amountToPay"] for r in due_now)
    # An empty list of installment numbers is the same as none.
    empty = await calculate(system, loan["loanId"], installmentNumbers=[])
    assert data(empty)["installmentBreakdown"] == breakdown


async def test_an_installment_paid_on_its_due_date_has_neither_discount_nor_penalty(system):
    loan = await borrower_with_loan(system, "ontime")
    first = (await installments(system, loan["loanId"]))[0]

    response = await calculate(
        system, loan["loanId"], paymentDate=first["dueDate"], installmentNumbers=[1]
    )

    assert response.status_code == 200, response.text
    calculation = data(response)["calculation"]
    assert calculation["baseAmount"] == calculation["finalAmount"] == first["totalAmount"]
    assert (calculation["discountAmount"], calculation["penaltyAmount"]) == (ZERO, ZERO)
    assert (calculation["earlyPaymentDays"], calculation["latePaymentDays"]) == (0, 0)


async def test_a_partial_calculation_puts_the_rest_on_the_next_installment_without_discount(
    system,
):
    loan = await borrower_with_loan(system, "partial")
    first, second = (await installments(system, loan["loanId"]))[:2]
    offer = first["totalAmount"] + Decimal("100.00")

    response = await calculate(
        system,
        loan["loanId"],
        paymentDate=first["dueDate"],
        paymentAmount=str(offer),
        isPartialPayment=True,
    )

    assert response.status_code == 200, response.text
    result = data(response)
    whole, partial = result["installmentBreakdown"]
    assert whole["installmentNumber"] == 1
    assert whole["amountToPay"] == first["totalAmount"]
    assert partial["installmentNumber"] == 2
    # Interest first, then principal; no discount although #2 is paid a month early.
    assert partial["interestPortion"] == second["interestAmount"]
    assert partial["principalPortion"] == Decimal("100.00") - second["interestAmount"]
    assert (partial["discountApplied"], partial["penaltyApplied"]) == (ZERO, ZERO)
    assert partial["amountToPay"] == Decimal("100.00")
    assert result["unappliedAmount"] == ZERO
    assert result["calculation"]["finalAmount"] == offer
    assert result["calculation"]["discountAmount"] == ZERO


async def test_without_the_partial_flag_the_same_offer_pays_whole_installments_only(system):
    loan = await borrower_with_loan(system, "wholeonly")
    first = (await installments(system, loan["loanId"]))[0]
    offer = first["totalAmount"] + Decimal("100.00")

    response = await calculate(
        system, loan["loanId"], paymentDate=first["dueDate"], paymentAmount=str(offer)
    )

    assert response.status_code == 200, response.text
    result = data(response)
    assert [r["installmentNumber"] for r in result["installmentBreakdown"]] == [1]
    assert result["calculation"]["finalAmount"] == first["totalAmount"]
    assert result["unappliedAmount"] == Decimal("100.00")


@pytest.mark.parametrize("numbers", [[2], [1, 3], [2, 1], [1, 1], [99]])
async def test_installment_numbers_that_skip_an_older_unpaid_one_are_not_payable(system, numbers):
    loan = await borrower_with_loan(system, "skip")
    schedule = await installments(system, loan["loanId"])
    payable = [r["installmentNumber"] for r in schedule if due(r) <= _months_later(TODAY, 3)]

    response = await calculate(system, loan["loanId"], installmentNumbers=numbers)

    assert response.status_code == 422, response.text
    refusal = error(response)
    assert refusal["code"] == "INSTALLMENT_NOT_PAYABLE"
    assert refusal["requestedInstallments"] == numbers
    assert refusal["payableInstallments"] == payable
    assert payable[:2] == [1, 2]


async def test_an_offer_a_cent_short_of_the_first_installment_is_too_low(system):
    loan = await borrower_with_loan(system, "toolow")
    first = (await installments(system, loan["loanId"]))[0]
    on = due(first) + timedelta(days=7)
    needed = first["totalAmount"] + cents(first["totalAmount"] * RATE * 7)

    short = await calculate(
        system, loan["loanId"], paymentDate=str(on), paymentAmount=str(needed - Decimal("0.01"))
    )
    enough = await calculate(system, loan["loanId"], paymentDate=str(on), paymentAmount=str(needed))

    assert short.status_code == 422, short.text
    assert error(short)["code"] == "PAYMENT_AMOUNT_TOO_LOW"
    assert error(short)["amountNeeded"] == needed
    assert enough.status_code == 200, enough.text
    assert data(enough)["calculation"]["finalAmount"] == needed
    assert data(enough)["unappliedAmount"] == ZERO


async def _pending_loan(system) -> dict:
    person = await new_customer(system.customer.client, tag="unverified", kyc=False)
    created = await system.loan.client.post(
        "/api/v1/loans", json=loan_request(person["customerId"])
    )
    assert created.status_code == 201, created.text
    return data(created)


async def _approved_loan(system) -> dict:
    person = await new_customer(system.customer.client, tag="approved")
    created = await system.loan.client.post(
        "/api/v1/loans", json=loan_request(person["customerId"])
    )
    assert created.status_code == 201, created.text
    return data(created)


async def _cancelled_loan(system) -> dict:
    loan = await _approved_loan(system)
    cancelled = await system.loan.client.post(
        f"/api/v1/loans/{loan['loanId']}/cancel", json={"reason": "Changed my mind"}
    )
    assert cancelled.status_code == 200, cancelled.text
    return data(cancelled)


@pytest.mark.parametrize(
    ("make", "status"),
    [
        (_pending_loan, "PENDING_APPROVAL"),
        (_approved_loan, "APPROVED"),
        (_cancelled_loan, "CANCELLED"),
    ],
)
async def test_a_loan_that_is_not_active_cannot_be_calculated(system, make, status):
    loan = await make(system)
    assert loan["status"] == status

    response = await calculate(system, loan["loanId"])

    assert response.status_code == 422, response.text
    assert error(response)["code"] == "INVALID_LOAN_STATE"
    assert status in error(response)["message"]
    assert (await counts(system))["payment_calculations"] == 0


async def test_an_unknown_loan_is_not_found(system):
    response = await calculate(system, "LOAN-DOES-NOT-EXIST")

    assert response.status_code == 404, response.text
    assert error(response)["code"] == "NOT_FOUND"


async def test_a_payment_date_in_the_future_is_refused(system):
    loan = await borrower_with_loan(system, "tomorrow")

    response = await calculate(system, loan["loanId"], paymentDate=str(TODAY + timedelta(days=1)))

    assert response.status_code == 400, response.text
    assert error(response)["code"] == "VALIDATION_ERROR"
    assert fields(response) == {"paymentDate"}


@pytest.mark.parametrize("amount", ["0", "0.00", "-10.00", "10.001", "1e400", "abc"])
async def test_a_payment_amount_that_is_not_a_positive_number_of_cents_is_refused(system, amount):
    response = await system.payment.client.post(
        CALCULATE, json={"loanId": "LOAN-ANY", "paymentAmount": amount}
    )

    assert response.status_code == 400, response.text
    assert error(response)["code"] == "VALIDATION_ERROR"
    assert fields(response) == {"paymentAmount"}


async def test_every_problem_of_a_calculation_request_is_reported_at_once(system):
    response = await system.payment.client.post(
        CALCULATE,
        json={"paymentAmount": "1.234", "paymentDate": "someday", "installmentNumbers": [0]},
    )

    assert response.status_code == 400, response.text
    assert fields(response) == {"loanId", "paymentAmount", "paymentDate", "installmentNumbers.0"}


async def test_calculating_writes_simulation_rows_only_and_changes_no_loan(system):
    loan = await borrower_with_loan(system, "simulate")
    before = await get_loan(system, loan["loanId"])

    response = await calculate(system, loan["loanId"])
    refused = await calculate(system, loan["loanId"], installmentNumbers=[2])

    assert response.status_code == 200, response.text
    assert refused.status_code == 422, refused.text
    breakdown = data(response)["installmentBreakdown"]
    assert await counts(system) == {
        "payments": 0,
        "payment_installments": 0,
        "payment_history": 0,
        "payment_calculations": len(breakdown),
    }
    rows = await fetch(
        system,
        "SELECT installment_number, calculation_type, payment_id, loan_id, due_date, base_amount,"
        " discount_amount, penalty_amount, final_amount FROM payment_calculations"
        " ORDER BY installment_number",
    )
    assert [r["installment_number"] for r in rows] == [r["installmentNumber"] for r in breakdown]
    for row, quoted in zip(rows, breakdown, strict=True):
        assert row["calculation_type"] == "SIMULATION"
        assert row["payment_id"] is None
        assert row["loan_id"] == loan["loanId"]
        assert str(row["due_date"]) == quoted["dueDate"]
        assert row["base_amount"] == quoted["originalAmount"]
        assert row["discount_amount"] == quoted["discountApplied"]
        assert row["penalty_amount"] == quoted["penaltyApplied"]
        assert row["final_amount"] == quoted["amountToPay"]
    after = await get_loan(system, loan["loanId"])
    assert after["version"] == before["version"]
    assert after["installments"] == before["installments"]


async def test_a_payment_cannot_be_dated_before_the_disbursement_or_the_last_payment(system):
    loan = await borrower_with_loan(system, "floor")
    disbursed = date.fromisoformat(loan["disbursementDate"][:10])
    first = (await installments(system, loan["loanId"]))[0]

    before_money = await calculate(
        system, loan["loanId"], paymentDate=str(disbursed - timedelta(days=1))
    )
    on_disbursement = await calculate(system, loan["loanId"], paymentDate=str(disbursed))

    assert before_money.status_code == 400, before_money.text
    assert fields(before_money) == {"paymentDate"}
    assert on_disbursement.status_code == 200, on_disbursement.text

    paid_on = due(first) + timedelta(days=5)
    await pay(system, loan, str(first["totalAmount"] + Decimal("100.00")), paid_on)

    earlier = await calculate(system, loan["loanId"], paymentDate=str(paid_on - timedelta(days=1)))
    same_day = await calculate(system, loan["loanId"], paymentDate=str(paid_on))

    assert earlier.status_code == 400, earlier.text
    assert fields(earlier) == {"paymentDate"}
    assert same_day.status_code == 200, same_day.text
    assert data(same_day)["installmentBreakdown"][0]["installmentNumber"] == 2
