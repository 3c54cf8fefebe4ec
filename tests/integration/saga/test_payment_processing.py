"""PAYMENT_PROCESSING through the gateway (api.md §4): CALCULATE → RECORD_PAYMENT →
APPLY_TO_LOAN → RESTORE_CREDIT → COMPLETE, against the real services. A loan paid off late, on
time and early, with every book agreeing to the cent; a refusal before the pivot; two payments
racing for one installment."""

from __future__ import annotations

import asyncio
import itertools
from datetime import date, timedelta
from decimal import Decimal

from elms.core import jsoncodec
from elms.core.business_day import today
from tests.integration.saga.helpers import (
    PAYMENTS,
    active_loan,
    books_balance,
    data,
    error,
    first_installment_due,
    get_customer,
    get_loan,
    loan_lock,
    pay,
    reaching,
    saga_state,
    step_names,
)

STEPS = ["CALCULATE", "RECORD_PAYMENT", "APPLY_TO_LOAN", "RESTORE_CREDIT", "COMPLETE"]


async def test_a_loan_is_paid_off_late_on_time_and_early_and_every_book_agrees(
    system, gateway, database
):
    loan = await active_loan(system, gateway, "pay6", disbursed=today() - timedelta(days=100))
    schedule = loan_schedule = (await get_loan(gateway, loan["loanId"]))["installments"]
    first_due = date.fromisoformat(loan_schedule[0]["dueDate"])

    late = await pay(gateway, loan["loanId"], "1100.00", first_due + timedelta(days=7))
    assert late.status_code == 201, late.text
    late = data(late)
    assert late["status"] == "COMPLETED"
    assert late["installmentPayments"][0]["latePaymentDays"] == 7
    assert late["installmentPayments"][0]["penaltyPaid"] > 0
    state = await saga_state(gateway, late["sagaId"])
    assert step_names(state["completedSteps"], "COMPLETED") == STEPS
    assert state["finalResult"]["paymentId"] == late["paymentId"]

    on_time = await pay(
        gateway, loan["loanId"], "1100.00", date.fromisoformat(schedule[1]["dueDate"])
    )
    assert on_time.status_code == 201, on_time.text
    row = data(on_time)["installmentPayments"][0]
    assert (row["penaltyPaid"], row["discountApplied"]) == (Decimal("0.00"), Decimal("0.00"))

    # Everything else, early where it can be: pay what the calculator says.
    while (current := await get_loan(gateway, loan["loanId"]))["status"] != "PAID_OFF":
        quote = await gateway.client.post(f"{PAYMENTS}/calculate", json={"loanId": loan["loanId"]})
        assert quote.status_code == 200, quote.text
        paid = await pay(gateway, loan["loanId"], data(quote)["calculation"]["finalAmount"])
        assert paid.status_code == 201, paid.text
        # calculate-then-pay on the same date gives the same amounts
        assert data(paid)["calculation"] == data(quote)["calculation"]
        last = data(paid)

    assert last["loanPaidOff"] is True
    assert last["balanceAfterPayment"]["totalOutstanding"] == Decimal("0.00")
    assert current["outstandingAmount"] == Decimal("0.00")
    assert all(i["status"] == "PAID" and i["remainingAmount"] == 0 for i in current["installments"])
    person = await get_customer(system, loan["customerId"])
    assert person["usedCredit"] == Decimal("0.00")
    assert person["availableCredit"] == person["creditLimit"]
    await _books_agree(system, loan["loanId"], current)

    # A PAID_OFF loan takes no more payments: refused at CALCULATE, before anything is written.
    more = await pay(gateway, loan["loanId"], "10.00")
    assert more.status_code == 422, more.text
    assert error(more)["code"] == "INVALID_LOAN_STATE"
    assert error(more)["failedStep"] == "CALCULATE"
    await books_balance(system, database)
    # The pay-off reached the customer's credit history (architecture.md §4), moving nothing.
    history = await system.customer.client.get(
        f"/api/v1/customers/{loan['customerId']}/credit/history",
        params={"transactionType": "LOAN_PAID_OFF"},
    )
    [paid_off] = data(history)["content"]
    assert (paid_off["amount"], paid_off["referenceId"]) == (Decimal("0.00"), loan["loanId"])
    assert paid_off["previousAvailableCredit"] == paid_off["newAvailableCredit"]
    assert paid_off["newAvailableCredit"] == person["creditLimit"]


async def test_a_payment_too_low_is_refused_before_anything_is_recorded(system, gateway, database):
    loan = await active_loan(system, gateway, "toolow")

    response = await pay(gateway, loan["loanId"], "1.00")

    assert response.status_code == 422, response.text
    refused = error(response)
    assert refused["code"] == "PAYMENT_AMOUNT_TOO_LOW"
    state = await saga_state(gateway, refused["sagaId"])
    assert state["status"] == "COMPENSATED"
    assert step_names(state["completedSteps"]) == ["CALCULATE"]
    payments = await gateway.client.get(f"{PAYMENTS}/loan/{loan['loanId']}")
    assert data(payments)["totalElements"] == 0
    await books_balance(system, database)


async def test_two_payments_racing_for_one_installment_pay_it_once_and_fail_the_other(
    system, gateway, database
):
    loan = await active_loan(system, gateway, "race")
    quote = await gateway.client.post(f"{PAYMENTS}/calculate", json={"loanId": loan["loanId"]})
    breakdown = data(quote)["installmentBreakdown"]
    # Enough for installment 1 or 2 alone, never both.
    offer = max(breakdown[0]["amountToPay"], breakdown[1]["amountToPay"])

    async with loan_lock(system, loan["loanId"]):
        racing = [
            asyncio.create_task(pay(gateway, loan["loanId"], offer, paymentReference=ref))
            for ref in ("RACE-A", "RACE-B")
        ]
        # Both were priced against the same loan version and wait to apply it.
        await reaching(gateway, "APPLY_TO_LOAN", count=2)
    answers = await asyncio.gather(*racing)

    assert sorted(a.status_code for a in answers) == [201, 409]
    [won] = [data(a) for a in answers if a.status_code == 201]
    [lost] = [error(a) for a in answers if a.status_code == 409]
    assert lost["code"] == "VERSION_CONFLICT"
    assert lost["failedStep"] == "APPLY_TO_LOAN"
    state = await saga_state(gateway, lost["sagaId"])
    assert state["status"] == "COMPENSATED"
    assert step_names(state["compensations"], "COMPLETED") == ["RECORD_PAYMENT"]
    payments = data(await gateway.client.get(f"{PAYMENTS}/loan/{loan['loanId']}"))["content"]
    statuses = {p["paymentReference"]: p["status"] for p in payments}
    assert sorted(statuses.values()) == ["COMPLETED", "FAILED"]
    failed = next(p for p in payments if p["status"] == "FAILED")
    assert "VERSION_CONFLICT" in failed["failureReason"]
    after = await get_loan(gateway, loan["loanId"])
    assert [i["status"] == "PAID" for i in after["installments"]] == [True] + [False] * 5
    assert after["installments"][0]["paidAmount"] == won["paymentAmount"]
    assert after["outstandingAmount"] == loan["loanAmount"] - won["principalPaid"]

    # The refused payment's reference was given back: paid again, it takes installment 2.
    again = await pay(gateway, loan["loanId"], offer, paymentReference=failed["paymentReference"])
    assert again.status_code == 201, again.text
    assert [r["installmentNumber"] for r in data(again)["installmentPayments"]] == [2]
    final = await get_loan(gateway, loan["loanId"])
    await _books_agree(system, loan["loanId"], final)
    await books_balance(system, database)


async def _books_agree(system, loan_id: str, loan: dict) -> None:
    """Payments, their installment rows, their history and the loan agree to the cent."""
    async with system.payment.app.state.db.connection() as conn:
        payments = await conn.fetch(
            "SELECT payment_id, payment_amount, status, processing_fee, total_amount"
            " FROM payments WHERE loan_id = $1 AND status = 'COMPLETED'",
            loan_id,
        )
        rows = await conn.fetch(
            "SELECT i.payment_id, i.installment_number, i.paid_amount, i.principal_paid,"
            " i.interest_paid, i.penalty_paid, i.discount_applied FROM payment_installments i"
            " JOIN payments p USING (payment_id) WHERE p.loan_id = $1 AND p.status = 'COMPLETED'",
            loan_id,
        )
        history = await conn.fetch(
            "SELECT payment_id, transaction_type, amount, balance_before, balance_after"
            " FROM payment_history WHERE loan_id = $1 ORDER BY history_id",
            loan_id,
        )
    assert payments
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
        paid_principal = sum(r["principal_paid"] for r in mine)
        assert paid_principal == installment["principalAmount"] - installment["principalRemaining"]
    assert sum(r["principal_paid"] for r in rows) == loan["loanAmount"] - loan["outstandingAmount"]
    # Completed history rows chain the loan's outstanding principal down.
    completed = [h for h in history if h["transaction_type"] == "PAYMENT_COMPLETED"]
    assert completed[0]["balance_before"] == loan["loanAmount"]
    for earlier, later in itertools.pairwise(completed):
        assert later["balance_before"] == earlier["balance_after"]
    assert completed[-1]["balance_after"] == loan["outstandingAmount"]


async def test_bank_details_are_masked_before_the_saga_keeps_the_request(system, gateway):
    loan = await active_loan(system, gateway, "masked", disbursed=today() - timedelta(days=100))
    details = {"bankName": "First Bank", "accountNumber": "123456789012", "iban": "DE89370400"}

    amount = await first_installment_due(gateway, loan["loanId"])
    paid = await pay(gateway, loan["loanId"], amount, bankDetails=details)

    assert paid.status_code == 201, paid.text
    masked = {"bankName": "First Bank", "accountNumber": "********9012", "iban": "******0400"}
    assert data(paid)["bankDetails"] == masked
    async with gateway.app.state.db.connection() as conn:
        kept = await conn.fetchval(
            "SELECT saga_data::text FROM saga_states WHERE saga_id = $1", data(paid)["sagaId"]
        )
    assert "123456789012" not in kept and "DE89370400" not in kept
    assert "********9012" in kept


async def test_no_full_number_reaches_the_saga_table_or_the_audit_whatever_its_key(system, gateway):
    loan = await active_loan(system, gateway, "maskkeys", disbursed=today() - timedelta(days=100))
    amount = await first_installment_due(gateway, loan["loanId"])
    details = {
        "bankName": "First Bank",
        "pan": "4111 1111 1111 1111",
        "bban": "NWBK60161331926819",
        "acctNo": "87654321",
        "sortCode": "60-16-13",
        # A JSON number with a fraction, read as a Decimal.
        "nested": [{"accountNo": Decimal("12345678.9012")}],
    }
    request = {
        "loanId": loan["loanId"],
        "paymentAmount": str(amount),
        "paymentMethod": "BANK_TRANSFER",
        "bankDetails": details,
    }

    paid = await gateway.client.post(
        PAYMENTS, content=jsoncodec.dumps(request), headers={"content-type": "application/json"}
    )

    assert paid.status_code == 201, paid.text
    assert data(paid)["bankDetails"] == {
        "bankName": "First Bank",
        "pan": "***************1111",
        "bban": "**************6819",
        "acctNo": "****4321",
        "sortCode": "****1613",
        "nested": [{"accountNo": "*********9012"}],
    }
    await gateway.app.state.audit.flush()
    async with gateway.app.state.db.connection() as conn:
        kept = await conn.fetchval(
            "SELECT saga_data::text FROM saga_states WHERE saga_id = $1", data(paid)["sagaId"]
        )
        audited = await conn.fetchval(
            "SELECT string_agg(request_body::text || response_body::text, ' ')"
            " FROM audit_events WHERE request_url = $1",
            PAYMENTS,
        )
    for secret in ("4111 1111", "60161331926819", "87654321", "60-16-13", "12345678"):
        assert secret not in kept
        assert secret not in audited
    assert "*********9012" in kept and "*********9012" in audited
