"""A loan paid off by payments, each taken through the steps of the PAYMENT_PROCESSING saga
(calculate, record, apply to loan, restore credit, complete), driven by hand over real HTTP
until the gateway's saga does it. Afterwards every book must agree to the cent."""

from __future__ import annotations

import itertools
from datetime import date, timedelta
from decimal import Decimal

from tests.integration.loan.conftest import body
from tests.integration.payment.helpers import TODAY, borrower_with_loan, pay


async def test_a_loan_is_paid_off_late_on_time_and_early_and_every_book_agrees(system):
    disbursed = TODAY - timedelta(days=100)
    loan = await borrower_with_loan(system, "pay6", amount="6000.00", count=6, disbursed=disbursed)
    schedule = body(await system.loan.client.get(f"/api/v1/loans/{loan['loanId']}/installments"))[
        "data"
    ]["installments"]
    first_due = date.fromisoformat(schedule[0]["dueDate"])

    late = await pay(system, loan, "1100.00", first_due + timedelta(days=7))
    assert late["installmentPayments"][0]["latePaymentDays"] == 7
    assert late["installmentPayments"][0]["penaltyPaid"] > 0

    second_due = date.fromisoformat(schedule[1]["dueDate"])
    on_time = await pay(system, loan, "1100.00", second_due)
    row = on_time["installmentPayments"][0]
    assert (row["penaltyPaid"], row["discountApplied"]) == (Decimal("0.00"), Decimal("0.00"))

    # Everything else, early where it can be: pay what the calculator says.
    while True:
        current = body(await system.loan.client.get(f"/api/v1/loans/{loan['loanId']}"))["data"]
        if current["status"] == "PAID_OFF":
            break
        quote = await system.payment.client.post(
            "/api/v1/payments/calculate", json={"loanId": loan["loanId"]}
        )
        assert quote.status_code == 200, quote.text
        amount = body(quote)["data"]["calculation"]["finalAmount"]
        last = await pay(system, loan, str(amount), TODAY)

    assert last["loanPaidOff"] is True
    assert last["balanceAfterPayment"]["totalOutstanding"] == Decimal("0.00")
    final = body(await system.loan.client.get(f"/api/v1/loans/{loan['loanId']}"))["data"]
    assert final["outstandingAmount"] == Decimal("0.00")
    assert all(i["status"] == "PAID" and i["remainingAmount"] == 0 for i in final["installments"])

    customer = body(await system.customer.client.get(f"/api/v1/customers/{loan['customerId']}"))[
        "data"
    ]
    assert customer["usedCredit"] == Decimal("0.00")
    assert customer["availableCredit"] == customer["creditLimit"]

    await _books_agree(system, loan["loanId"], final)

    # A PAID_OFF loan takes no more payments.
    more = await system.payment.client.post(
        "/api/v1/payments/calculate", json={"loanId": loan["loanId"]}
    )
    assert more.status_code == 422, more.text
    assert body(more)["error"]["code"] == "INVALID_LOAN_STATE"


async def _books_agree(system, loan_id: str, loan: dict) -> None:
    async with system.payment.app.state.db.connection() as conn:
        payments = await conn.fetch(
            "SELECT payment_id, payment_amount, status, processing_fee, total_amount"
            " FROM payments WHERE loan_id = $1",
            loan_id,
        )
        rows = await conn.fetch(
            "SELECT i.payment_id, i.installment_number, i.paid_amount, i.principal_paid,"
            " i.interest_paid, i.penalty_paid, i.discount_applied FROM payment_installments i"
            " JOIN payments p USING (payment_id) WHERE p.loan_id = $1",
            loan_id,
        )
        history = await conn.fetch(
            "SELECT payment_id, transaction_type, amount, balance_before, balance_after"
            " FROM payment_history WHERE loan_id = $1 ORDER BY history_id",
            loan_id,
        )
    assert payments and all(p["status"] == "COMPLETED" for p in payments)
    for payment in payments:
        mine = [r for r in rows if r["payment_id"] == payment["payment_id"]]
        assert sum(r["paid_amount"] for r in mine) == payment["payment_amount"]
        assert payment["total_amount"] == payment["payment_amount"] + payment["processing_fee"]
        kinds = [h["transaction_type"] for h in history if h["payment_id"] == payment["payment_id"]]
        assert kinds == ["PAYMENT_RECORDED", "PAYMENT_COMPLETED"]
    # The loan's installments carry exactly the completed payments' amounts.
    for installment in loan["installments"]:
        mine = [r for r in rows if r["installment_number"] == installment["installmentNumber"]]
        assert sum(r["paid_amount"] for r in mine) == installment["paidAmount"]
        assert sum(r["principal_paid"] for r in mine) == installment["principalAmount"]
        assert sum(r["interest_paid"] for r in mine) == installment["interestAmount"]
    assert sum(r["principal_paid"] for r in rows) == loan["loanAmount"]
    # Completed history rows chain the loan's outstanding principal down to zero.
    completed = [h for h in history if h["transaction_type"] == "PAYMENT_COMPLETED"]
    assert completed[0]["balance_before"] == loan["loanAmount"]
    for earlier, later in itertools.pairwise(completed):
        assert later["balance_before"] == earlier["balance_after"]
    assert completed[-1]["balance_after"] == Decimal("0.00")
