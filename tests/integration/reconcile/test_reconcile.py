"""`elms reconcile` (elms/reconcile.py): a book made through the gateway balances, and each
invariant of architecture.md §4 is found violated when a violation of it is planted by hand in
the database (as an administrator, past every service's rules)."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import asyncpg
import pytest

from elms.reconcile import INVARIANTS, reconcile, render
from tests.integration.saga.helpers import (
    active_loan,
    books_balance,
    customer,
    data,
    first_installment_due,
    pay,
)
from tests.support import books
from tests.support.cli import run_elms


@pytest.fixture
async def book(system, gateway, database) -> dict[str, Any]:
    """A customer paying an ACTIVE loan, another holding a reservation, all through the gateway."""
    loan = await active_loan(system, gateway, "book")
    paid = await pay(gateway, loan["loanId"], await first_installment_due(gateway, loan["loanId"]))
    assert paid.status_code == 201, paid.text
    waiting = await customer(system, "book-waiting")
    held = await system.customer.client.post(
        f"/api/v1/customers/{waiting['customerId']}/credit/reserve",
        json={"amount": "100.00", "purpose": "LOAN", "loanApplicationId": "APP-WAITING"},
    )
    assert held.status_code == 200, held.text
    await books_balance(system, database)
    return {"loan": loan, "payment": data(paid), "waiting": waiting}


Plant = Callable[[asyncpg.Connection, dict[str, Any]], Awaitable[Any]]


async def _plant_delinquency(db: asyncpg.Connection, b: dict[str, Any]) -> None:
    """The last close of business, COMPLETED after the loan last changed, was of the day its
    oldest unpaid installment fell due: 0 days past due, CURRENT. The loan says DPD_1_30."""
    await db.execute(
        "INSERT INTO loan_db.cob_runs (run_id, business_date, status, triggered_by,"
        " started_at, finished_at, batches, loans_processed)"
        " SELECT 'COB-PLANTED', oldest_unpaid_due_date, 'COMPLETED', 'planted',"
        " updated_at + interval '1 second', updated_at + interval '2 seconds', 1, 1"
        " FROM loan_db.loans WHERE loan_id = $1",
        b["loan"]["loanId"],
    )
    await db.execute(
        "UPDATE loan_db.loans SET delinquency_bucket = 'DPD_1_30' WHERE loan_id = $1",
        b["loan"]["loanId"],
    )


PLANTS: dict[str, Plant] = {
    "customer.credit": lambda db, b: db.execute(
        "UPDATE customer_db.customers SET available_credit = available_credit - 1"
        " WHERE customer_id = $1",
        b["waiting"]["customerId"],
    ),
    "customer.credit_history": lambda db, b: db.execute(
        "UPDATE customer_db.credit_history SET new_available_credit = new_available_credit + 1"
        " WHERE history_id = (SELECT max(history_id) FROM customer_db.credit_history"
        " WHERE customer_id = $1)",
        b["loan"]["customerId"],
    ),
    "customer.used_credit": lambda db, b: db.execute(
        "UPDATE customer_db.customers SET used_credit = used_credit + 1,"
        " available_credit = available_credit - 1 WHERE customer_id = $1",
        b["loan"]["customerId"],
    ),
    "credit.reservation": lambda db, b: db.execute(
        "INSERT INTO customer_db.credit_reservations (reservation_id, customer_id,"
        " reserved_amount, purpose, loan_application_id, status, expires_at)"
        " SELECT 'RES-TWICE', customer_id, reserved_amount, purpose, loan_application_id,"
        " 'USED', expires_at FROM customer_db.credit_reservations"
        " WHERE loan_application_id = 'APP-WAITING'",
    ),
    "loan.outstanding": lambda db, b: db.execute(
        "UPDATE loan_db.loans SET outstanding_amount = outstanding_amount - 1 WHERE loan_id = $1",
        b["loan"]["loanId"],
    ),
    "loan.schedule_principal": lambda db, b: db.execute(
        "DELETE FROM loan_db.loan_installments WHERE loan_id = $1 AND installment_number = 6",
        b["loan"]["loanId"],
    ),
    "loan.schedule_total": lambda db, b: db.execute(
        "UPDATE loan_db.loan_installments SET interest_amount = interest_amount + 0.01,"
        " total_amount = total_amount + 0.01, remaining_amount = remaining_amount + 0.01"
        " WHERE loan_id = $1 AND installment_number = 6",
        b["loan"]["loanId"],
    ),
    "loan.product": lambda db, b: db.execute(
        "UPDATE loan_db.loans SET interest_rate = 0.05 WHERE loan_id = $1", b["loan"]["loanId"]
    ),
    "loan.status": lambda db, b: db.execute(
        "UPDATE loan_db.loans SET status = 'PAID_OFF' WHERE loan_id = $1", b["loan"]["loanId"]
    ),
    # Paid in full (nothing remains, no penalty) yet not PAID: as a close of business that
    # marked a paid installment OVERDUE would leave it. (PAID with something still owed is
    # refused by the table itself: chk_installment_paid_owes_nothing.)
    "installment.status": lambda db, b: db.execute(
        "UPDATE loan_db.loan_installments SET status = 'OVERDUE'"
        " WHERE loan_id = $1 AND installment_number = 1",
        b["loan"]["loanId"],
    ),
    # A penalty owed with no date it was frozen on (accrual would not know where to go on from).
    "installment.penalty": lambda db, b: db.execute(
        "UPDATE loan_db.loan_installments SET penalty_outstanding = 1.00,"
        " penalty_frozen_on = NULL WHERE loan_id = $1 AND installment_number = 6",
        b["loan"]["loanId"],
    ),
    # Days past due would count from a day the installments do not say.
    "loan.oldest_unpaid": lambda db, b: db.execute(
        "UPDATE loan_db.loans SET oldest_unpaid_due_date = oldest_unpaid_due_date - 1"
        " WHERE loan_id = $1",
        b["loan"]["loanId"],
    ),
    "loan.delinquency": _plant_delinquency,
    "payment.rows": lambda db, b: db.execute(
        "UPDATE payment_db.payments SET payment_amount = payment_amount + 1,"
        " total_amount = total_amount + 1 WHERE payment_id = $1",
        b["payment"]["paymentId"],
    ),
    "payment.applied_once": lambda db, b: db.execute(
        "UPDATE payment_db.payments SET status = 'FAILED' WHERE payment_id = $1",
        b["payment"]["paymentId"],
    ),
    "payment.installments": lambda db, b: db.execute(
        "UPDATE loan_db.loan_installments SET paid_amount = paid_amount + 0.01"
        " WHERE loan_id = $1 AND installment_number = 1",
        b["loan"]["loanId"],
    ),
    "payment.credit_restored": lambda db, b: db.execute(
        "UPDATE customer_db.credit_history SET amount = amount - 0.01"
        " WHERE reference_id = $1 AND transaction_type = 'CREDIT_RESTORED'",
        b["payment"]["paymentId"],
    ),
    "saga.finished": lambda db, b: db.execute(
        "UPDATE banking_gateway.saga_states SET status = 'IN_PROGRESS',"
        " timeout_at = start_time WHERE saga_id = $1",
        b["payment"]["sagaId"],
    ),
    "outbox.delivered": lambda db, b: db.execute(
        "UPDATE loan_db.data_sync_events SET status = 'FAILED', error_message = 'planted'"
        " WHERE event_id = (SELECT min(event_id) FROM loan_db.data_sync_events)"
    ),
}


def test_every_invariant_has_a_planted_violation():
    assert sorted(PLANTS) == sorted(i.name for i in INVARIANTS)


# What each planted violation must name.
NAMED: dict[str, Callable[[dict[str, Any]], str]] = {
    "customer.credit": lambda b: b["waiting"]["customerId"],
    "customer.credit_history": lambda b: b["loan"]["customerId"],
    "customer.used_credit": lambda b: b["loan"]["customerId"],
    "credit.reservation": lambda b: "APP-WAITING",
    "loan.outstanding": lambda b: b["loan"]["loanId"],
    "loan.schedule_principal": lambda b: b["loan"]["loanId"],
    "loan.schedule_total": lambda b: b["loan"]["loanId"],
    "loan.product": lambda b: b["loan"]["loanId"],
    "loan.status": lambda b: b["loan"]["loanId"],
    "installment.status": lambda b: f"{b['loan']['loanId']} installment 1",
    "installment.penalty": lambda b: f"{b['loan']['loanId']} installment 6",
    "loan.oldest_unpaid": lambda b: b["loan"]["loanId"],
    "loan.delinquency": lambda b: b["loan"]["loanId"],
    "payment.rows": lambda b: b["payment"]["paymentId"],
    "payment.applied_once": lambda b: b["payment"]["paymentId"],
    "payment.installments": lambda b: f"{b['loan']['loanId']} installment 1",
    "payment.credit_restored": lambda b: b["payment"]["paymentId"],
    "saga.finished": lambda b: b["payment"]["sagaId"],
    "outbox.delivered": lambda b: "loan event",
}


PLANTED = pytest.mark.books_apart(reason="a violation planted on purpose")


@PLANTED
@pytest.mark.parametrize("invariant", sorted(PLANTS))
async def test_a_planted_violation_is_found_with_its_ids(book, database, invariant):
    conn = await asyncpg.connect(database.admin_url)
    try:
        await PLANTS[invariant](conn, book)
    finally:
        await conn.close()

    report = await reconcile(database.admin_url)

    assert not report.balanced
    found = [v for v in report.violations if v.invariant == invariant]
    assert [NAMED[invariant](book) in v.subject for v in found] == [True], render(report)
    assert report.checked[invariant] > 0
    # The check every integration test ends with fails on it, even when every other
    # invariant is allowed apart.
    others = frozenset(i.name for i in INVARIANTS) - {invariant}
    with pytest.raises(AssertionError, match=re.escape(f"[{invariant}]")):
        await books.assert_books_balance(database.admin_url, others)


@PLANTED
async def test_the_command_reports_and_exits_non_zero_on_a_violation(book, database, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ELMS_")}
    env.update(ELMS_DATABASE_URL=database.admin_url, ELMS_DATA_DIR=str(tmp_path))

    clean_code, clean = await run_elms(env, "reconcile")
    conn = await asyncpg.connect(database.admin_url)
    try:
        await PLANTS["loan.status"](conn, book)
    finally:
        await conn.close()
    broken_code, broken = await run_elms(env, "reconcile", "--json")

    assert clean_code == 0, clean
    assert "The books balance." in clean
    assert broken_code == 1, broken
    report = json.loads(broken.strip().splitlines()[-1], parse_float=Decimal)
    assert report["balanced"] is False
    owed = book["loan"]["loanAmount"] - book["payment"]["principalPaid"]
    assert report["violations"] == [
        {
            "invariant": "loan.status",
            "subject": f"loan {book['loan']['loanId']}",
            "detail": f"PAID_OFF with outstanding {owed} and 1 of 6 installments paid",
        }
    ]
