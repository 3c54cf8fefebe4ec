"""Two payments racing on one loan never pay the same installment twice (api.md §4): both are
recorded against the same loan version, and the loan service applies one and refuses the other
with 409 VERSION_CONFLICT even when both arrive at once. (The whole race through the gateway's
saga, the loser failed and paid again: tests/integration/saga/test_payment_processing.py.)"""

from __future__ import annotations

import asyncio

from tests.integration.payment.helpers import (
    apply,
    borrower_with_loan,
    calculate,
    complete,
    data,
    error,
    fail,
    get_loan,
    recorded,
    restore,
)


async def _offer_for_one_installment(system, loan_id: str) -> str:
    """An amount that pays #1 alone or #2 alone today, never both."""
    breakdown = data(await calculate(system, loan_id))["installmentBreakdown"]
    first, second = breakdown[0]["amountToPay"], breakdown[1]["amountToPay"]
    return str(max(first, second))


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
    # Each saga ends as the gateway's would: the winner restores credit and completes, the
    # loser's payment fails (its compensation), and the books balance.
    await restore(system, won)
    assert (await complete(system, won["paymentId"])).status_code == 200
    beaten = two if won is one else one
    assert (await fail(system, beaten["paymentId"])).status_code == 200
