"""Close of business (docs/business-day.md): for day D, unpaid installments of active loans due
on or before D become OVERDUE; each loan's days past due and bucket on D are worked out, and the
moves recorded (history, outbox events) at most once per loan and day; a close stopped half way
resumes from its cursor. Driven by calling it with an explicit day, never by waiting for the
runner's timer."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from decimal import Decimal

from elms.core.business_day import calendar_date
from elms.core.clock import utcnow
from elms.loan import business_day
from tests.integration.loan.helpers import (
    PLAYS_THE_PAYMENT_SERVICE,
    active_loan,
    approved_loan,
    data,
    events,
    get_loan,
    loan_execute,
    loan_fetch,
    loan_val,
    pay,
    schedule,
    whole,
)
from tests.support.waiting import until

# Applied for in January 2025, disbursed the same month: due 2025-02-01 … 2026-01-01.
OLD = {"applicationDate": "2025-01-10", "installmentCount": 12, "loanAmount": "6000.00"}


async def _statuses(system, loan_id: str) -> list[str]:
    return [i["status"] for i in (await schedule(system, loan_id))["installments"]]


async def _close(system, day: date, batch: int | None = None):
    settings = system.settings
    if batch is not None:
        settings = settings.model_copy(update={"cob_batch_size": batch})
    return await business_day.close_day(system.loan.app.state.db, settings, day, utcnow, "test")


async def _history(system, loan_id: str) -> list[tuple]:
    rows = await loan_fetch(
        system,
        "SELECT business_date, previous_bucket, bucket, days_past_due, non_performing"
        " FROM loan_delinquency_history WHERE loan_id = $1 ORDER BY business_date",
        loan_id,
    )
    return [tuple(r) for r in rows]


@PLAYS_THE_PAYMENT_SERVICE
async def test_unpaid_installments_due_by_the_day_become_overdue_and_paid_ones_stay_paid(system):
    loan = await active_loan(system, "late", disbursement_date="2025-01-20", **OLD)
    rows = (await schedule(system, loan["loanId"]))["installments"]
    assert [r["dueDate"] for r in rows[:4]] == [
        "2025-02-01",
        "2025-03-01",
        "2025-04-01",
        "2025-05-01",
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

    # Closing 30 April 2025: installments 2 (partly paid) and 3 are due by then; 4 is due the
    # next day.
    run = await _close(system, date(2025, 4, 30))
    assert (run.status, run.installments_overdue, run.loans_processed) == ("COMPLETED", 2, 1)
    statuses = await _statuses(system, loan["loanId"])
    assert statuses[:5] == ["PAID", "OVERDUE", "OVERDUE", "PENDING", "PENDING"]
    assert set(statuses[5:]) == {"PENDING"}
    # What was paid is kept: the partly paid one still owes only the rest.
    second = (await schedule(system, loan["loanId"]))["installments"][1]
    assert second["remainingAmount"] == rows[1]["totalAmount"] - Decimal("1.00")
    # 2025-03-01 is the oldest unpaid due date: 60 days past due on 30 April.
    assert await _history(system, loan["loanId"]) == [
        (date(2025, 4, 30), "CURRENT", "DPD_31_60", 60, False)
    ]
    # The day is closed once: closing it again finds the run done and changes nothing.
    again = await _close(system, date(2025, 4, 30))
    assert again.run_id == run.run_id
    assert len(await _history(system, loan["loanId"])) == 1


@PLAYS_THE_PAYMENT_SERVICE
async def test_an_overdue_installment_can_still_be_paid_and_the_loan_leaves_its_bucket(system):
    loan = await active_loan(system, "catch-up", disbursement_date="2025-01-20", **OLD)
    rows = (await schedule(system, loan["loanId"]))["installments"]
    run = await _close(system, date(2025, 3, 14))
    assert run.installments_overdue == 2
    # Paid on 15 March: 42 days late for the first.
    penalty = (rows[0]["totalAmount"] * Decimal("0.042")).quantize(Decimal("0.01"))
    second_late = (rows[1]["totalAmount"] * Decimal("0.014")).quantize(Decimal("0.01"))
    paid = await pay(
        system,
        loan["loanId"],
        "PAY-LATE",
        loan["version"],
        [
            {**whole(rows[0]), "penaltyPaid": str(penalty)},
            {**whole(rows[1]), "penaltyPaid": str(second_late)},
        ],
        paid_at="2025-03-15T09:00:00Z",
    )
    assert paid.status_code == 200, paid.text
    assert [i["status"] for i in data(paid)["installments"]] == ["PAID", "PAID"]
    assert (await _statuses(system, loan["loanId"]))[:3] == ["PAID", "PAID", "PENDING"]
    await _close(system, date(2025, 3, 15))
    assert await _history(system, loan["loanId"]) == [
        (date(2025, 3, 14), "CURRENT", "DPD_31_60", 41, False),
        (date(2025, 3, 15), "DPD_31_60", "CURRENT", 0, False),
    ]
    moves = [e for e in await events(system, loan["loanId"]) if e["event_type"].endswith("CHANGED")]
    assert [(m["event_data"]["previousBucket"], m["event_data"]["bucket"]) for m in moves] == [
        ("CURRENT", "DPD_31_60"),
        ("DPD_31_60", "CURRENT"),
    ]


async def test_loans_that_are_not_active_are_left_alone(system):
    loan = await approved_loan(system, "not-yet", **OLD)
    run = await _close(system, date(2025, 12, 15))
    assert (run.loans_processed, run.installments_overdue) == (0, 0)
    assert set(await _statuses(system, loan["loanId"])) == {"PENDING"}


async def test_the_loan_shows_its_delinquency_on_the_business_date(system):
    loan = await active_loan(system, "shown", disbursement_date="2025-01-20", **OLD)
    shown = await get_loan(system, loan["loanId"])
    # Every installment (the last due 2026-01-01) is unpaid and due before the business date.
    dpd = (calendar_date() - date(2025, 2, 1)).days
    assert shown["daysPastDue"] == dpd
    assert shown["delinquencyBucket"] == "DPD_180_PLUS"
    assert shown["nonPerforming"] is True
    rows = shown["installments"]
    assert shown["penaltyOutstanding"] == sum(r["penaltyDue"] for r in rows)
    assert shown["overdueAmount"] == sum(r["totalAmount"] + r["penaltyDue"] for r in rows)
    first = rows[0]
    assert first["penaltyDue"] == (first["totalAmount"] * Decimal("0.001") * dpd).quantize(
        Decimal("0.01")
    )


async def test_a_close_stopped_half_way_resumes_from_its_cursor_and_does_no_loan_twice(system):
    loans = [
        await active_loan(system, f"resume-{n}", disbursement_date="2025-01-20", **OLD)
        for n in range(3)
    ]
    ids = sorted(x["loanId"] for x in loans)
    day = date(2025, 6, 30)
    # A close that died after its first batch: the run RUNNING with its cursor on the first
    # loan, which that batch did (its history row and overdue installments are there).
    first = await _close(system, day, batch=1)
    await loan_execute(
        system,
        "UPDATE cob_runs SET status = 'RUNNING', finished_at = NULL, cursor_loan_id = $1,"
        " loans_processed = 1, batches = 1 WHERE run_id = $2",
        ids[0],
        first.run_id,
    )
    await loan_execute(
        system,
        "DELETE FROM loan_delinquency_history WHERE loan_id <> $1",
        ids[0],
    )
    await loan_execute(
        system,
        "UPDATE loans SET delinquency_bucket = 'CURRENT', non_performing = false,"
        " days_past_due = 0, delinquency_as_of = NULL WHERE loan_id <> $1",
        ids[0],
    )
    resumed = await _close(system, day, batch=1)
    assert (resumed.run_id, resumed.status, resumed.resumed_count) == (first.run_id, "COMPLETED", 1)
    assert resumed.loans_processed == 3
    per_loan = await loan_fetch(
        system,
        "SELECT loan_id, count(*) AS n FROM loan_delinquency_history WHERE business_date = $1"
        " GROUP BY loan_id ORDER BY loan_id",
        day,
    )
    assert [(r["loan_id"], r["n"]) for r in per_loan] == [(i, 1) for i in ids]


async def test_the_runner_closes_each_day_up_to_the_calendar_and_moves_the_business_date(system):
    loan = await active_loan(system, "runner", disbursement_date="2025-01-20", **OLD)
    today = calendar_date()
    await loan_execute(
        system,
        "UPDATE business_date SET business_date = $1, target_date = $1",
        today - timedelta(days=3),
    )
    runner = system.loan.app.state.cob
    assert await runner.catch_up() == 3
    closed = await loan_fetch(
        system, "SELECT business_date, status FROM cob_runs ORDER BY business_date"
    )
    assert [(r["business_date"], r["status"]) for r in closed] == [
        (today - timedelta(days=n), "COMPLETED") for n in (3, 2, 1)
    ]
    assert await loan_val(system, "SELECT business_date FROM business_date") == today
    # The first close moved the loan to its bucket; the next two had nothing to record.
    assert [h[2] for h in await _history(system, loan["loanId"])] == ["DPD_180_PLUS"]
    assert await runner.catch_up() == 0


async def test_one_runner_at_a_time(system):
    """A second runner (another replica, `elms cob`) finds the lock taken and does nothing."""
    await loan_execute(
        system,
        "UPDATE business_date SET business_date = $1, target_date = $1",
        calendar_date() - timedelta(days=1),
    )
    db = system.loan.app.state.db
    async with db.connection() as holder:
        assert await holder.fetchval("SELECT pg_try_advisory_lock($1)", business_day.repo.COB_LOCK)
        try:
            assert await system.loan.app.state.cob.catch_up() == 0
        finally:
            await holder.execute("SELECT pg_advisory_unlock($1)", business_day.repo.COB_LOCK)
    assert await system.loan.app.state.cob.catch_up() == 1


@PLAYS_THE_PAYMENT_SERVICE
async def test_a_payment_during_a_close_waits_at_most_for_its_batch_and_the_close_sees_it(system):
    loan = await active_loan(system, "racing", disbursement_date="2025-01-20", **OLD)
    rows = (await schedule(system, loan["loanId"]))["installments"]
    db = system.loan.app.state.db
    day = date(2025, 2, 10)
    # A batch of close of business holds the loan (as `cob_candidates` locks it) ...
    async with db.transaction() as conn:
        [candidate] = await business_day.repo.cob_candidates(conn, "", day, 10)
        [held] = await business_day.repo.lock_candidates(conn, [candidate.loan_id])
        assert held.loan_id == loan["loanId"]
        penalty = (rows[0]["totalAmount"] * Decimal("0.009")).quantize(Decimal("0.01"))
        payment = asyncio.create_task(
            pay(
                system,
                loan["loanId"],
                "PAY-DURING-COB",
                loan["version"],
                [{**whole(rows[0]), "penaltyPaid": str(penalty)}],
                paid_at="2025-02-10T09:00:00Z",
            )
        )
        # ... the payment waits for it (its lock on the loan), and has not gone through.
        await _waiting_for_lock(db)
        assert not payment.done()
    answer = await payment
    assert answer.status_code == 200, answer.text
    # The close that runs now sees the loan paid up: nothing overdue, still CURRENT.
    run = await _close(system, day)
    assert run.installments_overdue == 0
    assert await _history(system, loan["loanId"]) == []


async def _waiting_for_lock(db) -> None:
    """Returns once another connection waits for a lock (no timer: the server says so)."""
    async with db.connection() as conn:

        async def waiting() -> bool:
            return bool(
                await conn.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                    " AND datname = current_database()"
                )
            )

        await until(waiting, "the payment to wait for the close's lock on its loan")


async def test_a_loan_not_yet_disbursed_is_not_late_whatever_its_dates(system):
    loan = await approved_loan(system, "not-lent", **OLD)
    shown = await get_loan(system, loan["loanId"])
    assert (shown["daysPastDue"], shown["delinquencyBucket"], shown["nonPerforming"]) == (
        0,
        "CURRENT",
        False,
    )
    assert (shown["overdueAmount"], shown["penaltyOutstanding"]) == (Decimal("0"), Decimal("0"))
    assert {row["penaltyDue"] for row in shown["installments"]} == {Decimal("0")}


@PLAYS_THE_PAYMENT_SERVICE
async def test_a_loan_paid_off_while_late_leaves_its_bucket_at_the_next_close(system):
    loan = await active_loan(
        system, "paid-off", disbursement_date="2025-01-20", **{**OLD, "installmentCount": 6}
    )
    rows = (await schedule(system, loan["loanId"]))["installments"]
    await _close(system, date(2025, 3, 10))
    # Everything paid on 10 March: the first 37 days late, the second 9, the rest early.
    late = {0: Decimal("0.037"), 1: Decimal("0.009")}
    parts = [
        {
            **whole(row),
            "penaltyPaid": str((row["totalAmount"] * late.get(n, 0)).quantize(Decimal("0.01"))),
        }
        for n, row in enumerate(rows)
    ]
    paid = await pay(
        system, loan["loanId"], "PAY-ALL", loan["version"], parts, "2025-03-10T12:00:00Z"
    )
    assert paid.status_code == 200, paid.text
    assert data(paid)["loanStatus"] == "PAID_OFF"
    run = await _close(system, date(2025, 3, 11))
    assert run.bucket_changes == 1
    assert await _history(system, loan["loanId"]) == [
        (date(2025, 3, 10), "CURRENT", "DPD_31_60", 37, False),
        (date(2025, 3, 11), "DPD_31_60", "CURRENT", 0, False),
    ]
    stored = await loan_fetch(
        system,
        "SELECT delinquency_bucket, non_performing FROM loans WHERE loan_id = $1",
        loan["loanId"],
    )
    assert tuple(stored[0]) == ("CURRENT", False)
