"""The overdue worker (api.md §3 "Installment statuses"): unpaid installments of active loans past
their due date become OVERDUE; paid ones, ones due today or later, and other loans are left
alone. Driven by calling the job with an explicit date, never by waiting for its timer."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from elms.core.clock import utcnow
from elms.loan import service, workers
from tests.integration.loan.helpers import (
    PLAYS_THE_PAYMENT_SERVICE,
    active_loan,
    approved_loan,
    data,
    pay,
    schedule,
    whole,
)

# Applied for in January 2025, disbursed the same month: due 2025-02-01 … 2026-01-01.
OLD = {"applicationDate": "2025-01-10", "installmentCount": 12, "loanAmount": "6000.00"}


async def _statuses(system, loan_id: str) -> list[str]:
    return [i["status"] for i in (await schedule(system, loan_id))["installments"]]


@PLAYS_THE_PAYMENT_SERVICE
async def test_unpaid_installments_past_due_become_overdue_and_paid_ones_stay_paid(system):
    loan = await active_loan(system, "late", disbursement_date="2025-01-20", **OLD)
    rows = (await schedule(system, loan["loanId"]))["installments"]
    assert [r["dueDate"] for r in rows[:5]] == [
        "2025-02-01",
        "2025-03-01",
        "2025-04-01",
        "2025-05-01",
        "2025-06-01",
    ]
    paid = await pay(
        system,
        loan["loanId"],
        "PAY-ON-TIME",
        loan["version"],
        [whole(rows[0]), {"installmentNumber": 2, "principalPaid": "0.00", "interestPaid": "1.00"}],
        paid_at="2025-02-01T08:00:00Z",
    )
    assert paid.status_code == 200, paid.text

    db = system.loan.app.state.db
    # On 1 May 2025: installments 2 (partly paid) and 3 are past due; 4 is due that very day.
    marked = await service.mark_overdue(db, date(2025, 5, 1), utcnow())
    assert marked == 2
    statuses = await _statuses(system, loan["loanId"])
    assert statuses[:5] == ["PAID", "OVERDUE", "OVERDUE", "PENDING", "PENDING"]
    assert set(statuses[5:]) == {"PENDING"}

    # What was paid is kept: the partly paid one still owes only the rest.
    second = (await schedule(system, loan["loanId"]))["installments"][1]
    assert second["remainingAmount"] == rows[1]["totalAmount"] - Decimal("1.00")
    # A second round finds nothing new.
    assert await service.mark_overdue(db, date(2025, 5, 1), utcnow()) == 0


@PLAYS_THE_PAYMENT_SERVICE
async def test_an_overdue_installment_can_still_be_paid(system):
    loan = await active_loan(system, "catch-up", disbursement_date="2025-01-20", **OLD)
    rows = (await schedule(system, loan["loanId"]))["installments"]
    db = system.loan.app.state.db
    assert await service.mark_overdue(db, date(2025, 3, 15), utcnow()) == 2
    paid = await pay(system, loan["loanId"], "PAY-LATE", loan["version"], [whole(rows[0])])
    assert paid.status_code == 200, paid.text
    assert data(paid)["installments"][0]["status"] == "PAID"
    assert (await _statuses(system, loan["loanId"]))[:3] == ["PAID", "OVERDUE", "PENDING"]


async def test_loans_that_are_not_active_are_left_alone(system):
    loan = await approved_loan(system, "not-yet", **OLD)
    marked = await service.mark_overdue(system.loan.app.state.db, date(2025, 12, 15), utcnow())
    assert marked == 0
    assert set(await _statuses(system, loan["loanId"])) == {"PENDING"}


async def test_the_services_overdue_job_marks_todays_past_due_installments(system):
    loan = await active_loan(system, "job", disbursement_date="2025-01-20", **OLD)
    db = system.loan.app.state.db
    [job] = [
        j
        for j in workers.jobs(db, system.settings, system.loan.app.state.services)
        if j.name == "overdue-installments"
    ]
    # Every due date of this loan (the last is 2026-01-01) is before today.
    assert await job.run() == 12
    assert set(await _statuses(system, loan["loanId"])) == {"OVERDUE"}
