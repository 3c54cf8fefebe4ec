"""A loan paid off by payments, each taken through the steps of the PAYMENT_PROCESSING saga
(calculate, record, apply to loan, restore credit, complete), driven by hand over real HTTP
until the gateway's saga does it. Afterwards every book must agree to the cent."""

from __future__ import annotations

import itertools
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from tests.integration.loan.conftest import body, loan_request, new_customer, relay

TODAY = date.today()


async def _approved_active_loan(system, amount: str, count: int, disbursed: date) -> dict:
    customer = await new_customer(system.customer.client, tag=f"pay{count}")
    cid = customer["customerId"]
    reserved = await system.customer.client.post(
        f"/api/v1/customers/{cid}/credit/reserve",
        json={
            "amount": amount,
            "purpose": "LOAN",
            "loanApplicationId": f"APP-PAY-{count}",
            "reservationTimeout": 3600,
        },
    )
    assert reserved.status_code == 200, reserved.text
    created = await system.loan.client.post(
        "/api/v1/loans",
        json=loan_request(
            cid,
            loanAmount=amount,
            installmentCount=count,
            applicationId=f"APP-PAY-{count}",
            applicationDate=str(disbursed - timedelta(days=10)),
        ),
    )
    assert created.status_code == 201, created.text
    loan = body(created)["data"]
    assert loan["status"] == "APPROVED"
    assert await relay(system) == 1
    disbursed_loan = await system.loan.client.post(
        f"/api/v1/loans/{loan['loanId']}/disburse", json={"disbursementDate": str(disbursed)}
    )
    assert disbursed_loan.status_code == 200, disbursed_loan.text
    return body(disbursed_loan)["data"]


async def _pay(system, loan: dict, amount: str, on: date, **extra: Any) -> dict:
    """The saga's steps, in its order."""
    request = {"loanId": loan["loanId"], "paymentAmount": amount, "paymentDate": str(on), **extra}
    calculated = await system.payment.client.post("/api/v1/payments/calculate", json=request)
    assert calculated.status_code == 200, calculated.text
    recorded = await system.payment.client.post(
        "/internal/v1/payments", json={**request, "paymentMethod": "BANK_TRANSFER"}
    )
    assert recorded.status_code == 201, recorded.text
    payment = body(recorded)["data"]
    assert payment["status"] == "PENDING"
    # calculate-then-pay on the same date gives the same amounts
    assert body(calculated)["data"]["calculation"] == payment["calculation"]

    applied = await system.loan.client.post(
        f"/internal/v1/loans/{loan['loanId']}/payments", json=_wire(payment["applyRequest"])
    )
    assert applied.status_code == 200, applied.text
    restored = await system.customer.client.post(
        f"/api/v1/customers/{loan['customerId']}/credit/restore",
        json={"amount": str(payment["principalPaid"]), "referenceId": payment["paymentId"]},
    )
    assert restored.status_code == 200, restored.text
    completed = await system.payment.client.post(
        f"/internal/v1/payments/{payment['paymentId']}/complete"
    )
    assert completed.status_code == 200, completed.text
    assert body(completed)["data"]["status"] == "COMPLETED"
    return payment


def _wire(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {k: _wire(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_wire(v) for v in value]
    return value


async def test_a_loan_is_paid_off_late_on_time_and_early_and_every_book_agrees(system):
    disbursed = TODAY - timedelta(days=100)
    loan = await _approved_active_loan(system, "6000.00", 6, disbursed)
    schedule = body(await system.loan.client.get(f"/api/v1/loans/{loan['loanId']}/installments"))[
        "data"
    ]["installments"]
    first_due = date.fromisoformat(schedule[0]["dueDate"])

    late = await _pay(system, loan, "1100.00", first_due + timedelta(days=7))
    assert late["installmentPayments"][0]["latePaymentDays"] == 7
    assert late["installmentPayments"][0]["penaltyPaid"] > 0

    second_due = date.fromisoformat(schedule[1]["dueDate"])
    on_time = await _pay(system, loan, "1100.00", second_due)
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
        await _pay(system, loan, str(amount), TODAY)

    final = body(await system.loan.client.get(f"/api/v1/loans/{loan['loanId']}"))["data"]
    assert final["outstandingAmount"] == Decimal("0.00")
    assert all(i["status"] == "PAID" and i["remainingAmount"] == 0 for i in final["installments"])

    customer = body(await system.customer.client.get(f"/api/v1/customers/{loan['customerId']}"))[
        "data"
    ]
    assert customer["usedCredit"] == Decimal("0.00")
    assert customer["availableCredit"] == customer["creditLimit"]

    await _books_agree(system, loan["loanId"], final)


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
