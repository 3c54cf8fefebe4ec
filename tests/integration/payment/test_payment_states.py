"""The last steps of the PAYMENT_PROCESSING saga: COMPLETE and FAIL. PENDING moves once to
COMPLETED or FAILED; repeating the move it made changes nothing; any other move is refused."""

from __future__ import annotations

import pytest

from tests.integration.payment.helpers import (
    PAYMENTS,
    borrower_with_loan,
    complete,
    data,
    error,
    fail,
    fields,
    get_loan,
    history,
    recorded,
    settle,
)


async def test_completing_a_payment_twice_changes_nothing_the_second_time(system):
    loan = await borrower_with_loan(system, "twice")
    before = await get_loan(system, loan["loanId"])
    payment = await recorded(system, loan["loanId"], "2000.00")
    done = await settle(system, payment)

    again = await complete(system, payment["paymentId"])

    assert again.status_code == 200, again.text
    repeated = data(again)
    assert repeated["status"] == "COMPLETED"
    assert repeated["processedAt"] == done["processedAt"] is not None
    assert repeated["installmentPayments"] == done["installmentPayments"]
    rows = await history(system, payment["paymentId"])
    assert [r["transaction_type"] for r in rows] == ["PAYMENT_RECORDED", "PAYMENT_COMPLETED"]
    # The completion row carries the loan's outstanding principal before and after.
    assert rows[1]["balance_before"] == before["outstandingAmount"]
    assert rows[1]["balance_after"] == before["outstandingAmount"] - payment["principalPaid"]
    assert rows[1]["balance_after"] == (await get_loan(system, loan["loanId"]))["outstandingAmount"]


async def test_failing_a_payment_twice_changes_nothing_the_second_time(system):
    loan = await borrower_with_loan(system, "failtwice")
    payment = await recorded(system, loan["loanId"], "2000.00")
    first = await fail(system, payment["paymentId"], "Insufficient funds")

    again = await fail(system, payment["paymentId"], "Another reason")

    assert again.status_code == 200, again.text
    assert data(again)["status"] == "FAILED"
    assert data(again)["failureReason"] == "Insufficient funds"
    assert data(again)["failedAt"] == data(first)["failedAt"]
    kinds = [r["transaction_type"] for r in await history(system, payment["paymentId"])]
    assert kinds == ["PAYMENT_RECORDED", "PAYMENT_FAILED"]


async def test_a_completed_payment_cannot_be_failed(system):
    loan = await borrower_with_loan(system, "nofail")
    payment = await recorded(system, loan["loanId"], "2000.00")
    await settle(system, payment)

    response = await fail(system, payment["paymentId"], "Too late")

    assert response.status_code == 422, response.text
    assert error(response)["code"] == "INVALID_PAYMENT_STATE"
    assert error(response)["currentStatus"] == "COMPLETED"
    shown = data(await system.payment.client.get(f"{PAYMENTS}/{payment['paymentId']}"))
    assert shown["status"] == "COMPLETED"
    assert shown["failureReason"] is None
    kinds = [r["transaction_type"] for r in await history(system, payment["paymentId"])]
    assert kinds == ["PAYMENT_RECORDED", "PAYMENT_COMPLETED"]


async def test_a_failed_payment_cannot_be_completed(system):
    loan = await borrower_with_loan(system, "nocomplete")
    payment = await recorded(system, loan["loanId"], "2000.00")
    assert (await fail(system, payment["paymentId"], "Declined")).status_code == 200

    response = await complete(system, payment["paymentId"])

    assert response.status_code == 422, response.text
    assert error(response)["code"] == "INVALID_PAYMENT_STATE"
    assert error(response)["currentStatus"] == "FAILED"
    shown = data(await system.payment.client.get(f"{PAYMENTS}/{payment['paymentId']}"))
    assert (shown["status"], shown["processedAt"]) == ("FAILED", None)


@pytest.mark.parametrize("step", ["complete", "fail", "get"])
async def test_an_unknown_payment_is_not_found(system, step):
    unknown = "PAY-DOES-NOT-EXIST"
    if step == "complete":
        response = await complete(system, unknown)
    elif step == "fail":
        response = await fail(system, unknown, "No such payment")
    else:
        response = await system.payment.client.get(f"{PAYMENTS}/{unknown}")

    assert response.status_code == 404, response.text
    assert error(response)["code"] == "NOT_FOUND"


@pytest.mark.parametrize("payload", [{}, {"reason": ""}, {"reason": "   "}])
async def test_failing_a_payment_needs_a_reason(system, payload):
    loan = await borrower_with_loan(system, "reason")
    payment = await recorded(system, loan["loanId"], "2000.00")

    response = await system.payment.client.post(
        f"/internal/v1/payments/{payment['paymentId']}/fail", json=payload
    )

    assert response.status_code == 400, response.text
    assert fields(response) == {"reason"}
    shown = data(await system.payment.client.get(f"{PAYMENTS}/{payment['paymentId']}"))
    assert shown["status"] == "PENDING"
