"""Two payments racing on one loan never pay the same installment twice (api.md §4): both are
recorded against the same loan version, the loan service applies the first and refuses the
second with 409 VERSION_CONFLICT, and the saga fails the second and may record it again."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from decimal import Decimal

from tests.integration.payment.helpers import (
    apply,
    borrower_with_loan,
    calculate,
    data,
    error,
    fail,
    fetch,
    get_loan,
    history,
    recorded,
    settle,
)


async def _offer_for_one_installment(system, loan_id: str) -> str:
    """An amount that pays #1 alone or #2 alone today, never both."""
    breakdown = data(await calculate(system, loan_id))["installmentBreakdown"]
    first, second = breakdown[0]["amountToPay"], breakdown[1]["amountToPay"]
    return str(max(first, second))


async def _completed_rows(system, loan_id: str) -> dict[int, Decimal]:
    rows = await fetch(
        system,
        "SELECT i.installment_number, i.paid_amount FROM payment_installments i"
        " JOIN payments p USING (payment_id) WHERE p.loan_id = $1 AND p.status = 'COMPLETED'",
        loan_id,
    )
    paid: dict[int, Decimal] = defaultdict(lambda: Decimal("0.00"))
    for row in rows:
        paid[row["installment_number"]] += row["paid_amount"]
    return paid


async def test_the_second_of_two_payments_on_one_loan_version_is_refused_then_paid_again(system):
    loan = await borrower_with_loan(system, "race")
    loan_id = loan["loanId"]
    offer = await _offer_for_one_installment(system, loan_id)
    version = (await get_loan(system, loan_id))["version"]

    winner = await recorded(system, loan_id, offer, paymentReference="RACE-A")
    loser = await recorded(system, loan_id, offer, paymentReference="RACE-B")
    # Both were priced against the same loan: both would pay installment 1.
    assert winner["applyRequest"]["expectedVersion"] == version
    assert loser["applyRequest"]["expectedVersion"] == version
    assert [r["installmentNumber"] for r in winner["installmentPayments"]] == [1]
    assert [r["installmentNumber"] for r in loser["installmentPayments"]] == [1]

    await settle(system, winner)
    after_winner = await get_loan(system, loan_id)
    assert after_winner["version"] > version

    refused = await apply(system, loser)

    assert refused.status_code == 409, refused.text
    assert error(refused)["code"] == "VERSION_CONFLICT"
    unchanged = await get_loan(system, loan_id)
    assert unchanged["version"] == after_winner["version"]
    assert unchanged["installments"] == after_winner["installments"]
    assert unchanged["outstandingAmount"] == after_winner["outstandingAmount"]

    failed = await fail(system, loser["paymentId"], "Loan changed: VERSION_CONFLICT")

    assert failed.status_code == 200, failed.text
    gone = data(failed)
    assert gone["status"] == "FAILED"
    assert gone["failedAt"] is not None
    assert gone["failureReason"] == "Loan changed: VERSION_CONFLICT"
    assert gone["processedAt"] is None
    rows = await history(system, loser["paymentId"])
    assert [r["transaction_type"] for r in rows] == ["PAYMENT_RECORDED", "PAYMENT_FAILED"]
    assert rows[1]["description"] == "Loan changed: VERSION_CONFLICT"
    assert rows[1]["balance_before"] == rows[1]["balance_after"]

    # Recorded again, the same request is priced against the loan as it is now.
    again = await recorded(system, loan_id, offer, paymentReference="RACE-B")

    assert again["paymentId"] != loser["paymentId"]
    assert again["applyRequest"]["expectedVersion"] == after_winner["version"]
    assert [r["installmentNumber"] for r in again["installmentPayments"]] == [2]
    await settle(system, again)

    final = await get_loan(system, loan_id)
    paid = await _completed_rows(system, loan_id)
    for installment in final["installments"]:
        assert installment["paidAmount"] == paid[installment["installmentNumber"]]
    assert [i["status"] == "PAID" for i in final["installments"]] == [True, True] + [False] * 4
    assert final["installments"][0]["paidAmount"] == winner["paymentAmount"]
    assert final["outstandingAmount"] == loan["loanAmount"] - sum(
        p["principalPaid"] for p in (winner, again)
    )
    statuses = await fetch(
        system, "SELECT status FROM payments WHERE loan_id = $1 ORDER BY created_at", loan_id
    )
    assert [s["status"] for s in statuses] == ["COMPLETED", "FAILED", "COMPLETED"]


async def test_two_payments_applied_at_the_same_moment_pay_installment_one_only_once(system):
    loan = await borrower_with_loan(system, "samemoment")
    loan_id = loan["loanId"]
    offer = await _offer_for_one_installment(system, loan_id)
    one = await recorded(system, loan_id, offer)
    two = await recorded(system, loan_id, offer)

    answers = await asyncio.gather(apply(system, one), apply(system, two))

    assert sorted(a.status_code for a in answers) == [200, 409]
    [lost] = [a for a in answers if a.status_code == 409]
    assert error(lost)["code"] == "VERSION_CONFLICT"
    won = one if answers[0].status_code == 200 else two
    after = await get_loan(system, loan_id)
    assert [i["status"] == "PAID" for i in after["installments"]] == [True] + [False] * 5
    assert after["installments"][0]["paidAmount"] == won["paymentAmount"]
    assert after["outstandingAmount"] == loan["loanAmount"] - won["principalPaid"]
