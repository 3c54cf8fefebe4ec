"""The business date and close of business (COB), owned by the loan service.

COB for day D walks the active loans in loan id order, in batches of `cob_batch_size`, each
batch one short transaction: it locks the batch's loans (in id order, as a payment locks one,
so neither deadlocks the other and a payment waits at most one batch), marks their unpaid
installments due by D OVERDUE, works out each loan's days past due and bucket on D, records the
moves (history, outbox events), and moves the run's cursor to its last loan — all committed
together. A COB stopped half way (a crash, a SIGKILL) is resumed from its cursor by the next
runner: a batch is either done and behind the cursor, or not done at all, so no loan's day is
done twice (the history's one-row-per-loan-per-day key would refuse it anyway).

Only loans with something to do are visited: one with an installment due by D and unpaid, or one
not CURRENT. Days past due are never rewritten day by day: they are D minus the loan's oldest
unpaid due date, which payments keep (repository.refresh_oldest_unpaid); a loan is written only
when its bucket moves.

One runner at a time among replicas (and `elms cob`): the runner holds a PostgreSQL advisory lock
on a connection of its own for as long as it runs, released by PostgreSQL if it dies.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import structlog
from asyncpg import Connection

from elms.core import outbox
from elms.core.business_day import BusinessDay, calendar_date
from elms.core.config import Settings
from elms.core.database import Database
from elms.core.errors import DomainError, FieldProblem
from elms.core.ids import new_id
from elms.core.penalty import days_past_due
from elms.loan import product_service
from elms.loan import repository as repo
from elms.loan.products import bucket_of
from elms.loan.repository import BusinessDateRow, CobCandidate, CobRun, DelinquencyMove

log = structlog.get_logger("elms.cob")

SERVICE = "loan"
# How far one move of the business date may go: a year of closes. A mistyped year (2207) would
# otherwise close tens of thousands of days, irreversibly; older books are brought over a year
# at a time.
MAX_MOVE_DAYS = 366
# The services told when the business date moves (they also learn it from the loan service's
# answers); the loan service keeps its own from the table.
DATE_LISTENERS = ("customer",)


@dataclass(frozen=True)
class Standing:
    """A loan's delinquency on a day, from its oldest unpaid due date."""

    days_past_due: int
    bucket: str
    non_performing: bool


def standing(
    oldest_unpaid: date | None, on: date, buckets: Any, non_performing_days: int
) -> Standing:
    dpd = days_past_due([oldest_unpaid] if oldest_unpaid else [], on)
    return Standing(dpd, bucket_of(buckets, dpd), dpd > non_performing_days)


# --- the business date ----------------------------------------------------------------------


async def load(db: Database, business: BusinessDay, now: datetime) -> BusinessDateRow:
    """At start: the row made on first use (the calendar's date), and the date learnt. A
    calendar-mode service refuses a business date the calendar has not reached (the books were
    moved ahead in manual mode: going back would undo closed days)."""
    async with db.transaction() as conn:
        row = await repo.init_business_date(conn, calendar_date(), now)
    if not business.manual and row.business_date > calendar_date():
        raise RuntimeError(
            f"The business date is {row.business_date}, ahead of the calendar: these books were"
            " moved forward in manual mode; keep ELMS_BUSINESS_DATE_MODE=manual"
        )
    business.learn(row.business_date)
    return row


@dataclass(frozen=True)
class BusinessDateView:
    row: BusinessDateRow
    mode: str
    today: date
    last: CobRun | None
    running: CobRun | None


async def view(db: Database, business: BusinessDay) -> BusinessDateView:
    async with db.connection() as conn:
        row = await repo.get_business_date(conn)
        last = await repo.last_cob(conn)
        running = await repo.running_cob(conn)
    assert row is not None, "the business date is made at start"
    if business.manual:
        business.learn(row.business_date)
    return BusinessDateView(row, business.mode, business.today(), last, running)


def _catching_up(row: BusinessDateRow, running: CobRun | None) -> bool:
    return running is not None or row.target_date > row.business_date


async def move_to(
    db: Database, business: BusinessDay, target: date, who: str, now: datetime
) -> BusinessDateRow:
    """An administrator moves the business date forward to `target` (manual mode): the days from
    the current one to the day before `target` are closed first, by the runner."""
    if not business.manual:
        message = (
            "The business date follows the calendar (ELMS_BUSINESS_DATE_MODE=calendar); it"
            " moves only in manual mode"
        )
        raise DomainError(
            message,
            code="BUSINESS_DATE_MODE_CALENDAR",
            status=422,
            details=[FieldProblem("date", message, target.isoformat())],
        )
    async with db.transaction() as conn:
        row = await repo.get_business_date(conn, lock=True)
        assert row is not None
        running = await repo.running_cob(conn)
        if _catching_up(row, running):
            raise cob_running(running, row)
        if (target - row.business_date).days > MAX_MOVE_DAYS:
            message = (
                f"The business date moves at most {MAX_MOVE_DAYS} days at a time (closing each"
                f" day costs); it is {row.business_date}"
            )
            raise DomainError(
                message,
                code="BUSINESS_DATE_TOO_FAR",
                status=422,
                details=[FieldProblem("date", message, target.isoformat())],
                extra={"businessDate": row.business_date.isoformat()},
            )
        if target <= row.business_date:
            message = f"The business date moves forward only: it is {row.business_date}"
            raise DomainError(
                message,
                code="BUSINESS_DATE_NOT_FORWARD",
                status=422,
                details=[FieldProblem("date", message, target.isoformat())],
                extra={"businessDate": row.business_date.isoformat()},
            )
        return await repo.set_business_date(conn, {"target_date": target}, who, now)


def cob_running(running: CobRun | None, row: BusinessDateRow) -> DomainError:
    return DomainError(
        "Close of business is running"
        + (f" for {running.business_date}" if running else f" up to {row.target_date}"),
        code="COB_RUNNING",
        status=409,
        extra={
            "run": run_wire(running) if running else None,
            "targetDate": row.target_date.isoformat(),
        },
    )


def run_wire(run: CobRun) -> dict[str, Any]:
    return {
        "runId": run.run_id,
        "date": run.business_date.isoformat(),
        "status": run.status,
        "triggeredBy": run.triggered_by,
        "startedAt": run.started_at,
        "finishedAt": run.finished_at,
        "resumedCount": run.resumed_count,
        "batches": run.batches,
        "loansProcessed": run.loans_processed,
        "installmentsOverdue": run.installments_overdue,
        "bucketChanges": run.bucket_changes,
    }


# --- close of business ----------------------------------------------------------------------


class Runner:
    """Closes every day the business date has to pass: up to yesterday (calendar), or up to the
    day before the target an administrator set (manual). Woken by the API, else on its
    interval."""

    def __init__(
        self,
        db: Database,
        business: BusinessDay,
        settings: Settings,
        clock: Callable[[], datetime],
    ) -> None:
        self.db = db
        self.business = business
        self.settings = settings
        self.clock = clock
        self.wake = asyncio.Event()
        # Set whenever the business date moved or a run ended: waiters look again.
        self.progress = asyncio.Condition()

    async def catch_up(self) -> int:
        """Close the days due; returns how many. Another runner at work: nothing (it will)."""
        closed = 0
        async with self.db.connection() as lock:
            if not await repo.try_cob_lock(lock):
                return 0
            try:
                while (day := await self._next_day()) is not None:
                    await close_day(self.db, self.settings, day, self.clock, "cob-runner")
                    await self._advance(day)
                    closed += 1
            finally:
                await repo.cob_unlock(lock)
        return closed

    async def _next_day(self) -> date | None:
        async with self.db.connection() as conn:
            row = await repo.get_business_date(conn)
        if row is None:
            return None
        # Another replica may have moved it: every replica's round learns it.
        self.business.learn(row.business_date)
        target = row.target_date if self.business.manual else calendar_date()
        return row.business_date if row.business_date < target else None

    async def _advance(self, day: date) -> None:
        """After day D is closed, the business date is D + 1, told to the other services."""
        following = day + timedelta(days=1)
        now = self.clock()
        async with self.db.transaction() as conn:
            row = await repo.get_business_date(conn, lock=True)
            assert row is not None
            changes: dict[str, Any] = {"business_date": following}
            if row.target_date < following:
                changes["target_date"] = following  # calendar mode: the target is the calendar
            await repo.set_business_date(conn, changes, "cob-runner", now)
            for target in DATE_LISTENERS:
                await outbox.enqueue(
                    conn,
                    event_type="BUSINESS_DATE_CHANGED",
                    source=SERVICE,
                    target=target,
                    entity_type="BUSINESS_DATE",
                    entity_id=following.isoformat(),
                    data={"businessDate": following.isoformat(), "closedDate": day.isoformat()},
                    now=now,
                )
        self.business.learn(following)
        async with self.progress:
            self.progress.notify_all()

    async def reached(self, target: date, seconds: float) -> bool:
        """Waits up to `seconds` for the business date to reach `target`."""
        try:
            async with asyncio.timeout(seconds), self.progress:
                await self.progress.wait_for(lambda: self.business.today() >= target)
        except TimeoutError:
            return False
        return True


async def close_day(
    db: Database,
    settings: Settings,
    day: date,
    clock: Callable[[], datetime],
    triggered_by: str,
) -> CobRun:
    """Close of business for `day`: started, or resumed where it stopped, to the end. The caller
    holds the COB lock (Runner.catch_up), or is a test driving one day."""
    run = await _start(db, day, clock(), triggered_by)
    if run.status == "COMPLETED":
        return run
    cursor = run.cursor_loan_id or ""
    while True:
        now = clock()
        async with db.transaction() as conn:
            batch = await repo.cob_candidates(conn, cursor, day, settings.cob_batch_size)
            if not batch:
                break
            overdue, moves = await _close_batch(conn, db, settings, batch, day, run, now)
            cursor = batch[-1].loan_id
            await repo.cob_progress(conn, run.run_id, cursor, len(batch), overdue, len(moves))
    while True:
        # Loans paid off while late leave their bucket too (their history says so).
        async with db.transaction() as conn:
            closed = await repo.closed_loans_still_late(conn, settings.cob_batch_size)
            if not closed:
                break
            _, moves = await _close_batch(conn, db, settings, closed, day, run, clock())
            await repo.cob_progress(conn, run.run_id, cursor, len(closed), 0, len(moves))
    async with db.transaction() as conn:
        done = await repo.update_cob_run(
            conn, run.run_id, {"status": "COMPLETED", "finished_at": clock()}
        )
    log.info(
        "close of business done",
        date=day.isoformat(),
        loans=done.loans_processed,
        overdue=done.installments_overdue,
        moves=done.bucket_changes,
        seconds=round((done.finished_at - done.started_at).total_seconds(), 3)
        if done.finished_at
        else None,
    )
    return done


async def _start(db: Database, day: date, now: datetime, triggered_by: str) -> CobRun:
    async with db.transaction() as conn:
        found = await repo.cob_run_for(conn, day)
        if found is not None:
            if found.status == "RUNNING":
                log.warning("resuming close of business", date=day.isoformat())
                return await repo.update_cob_run(
                    conn, found.run_id, {"resumed_count": found.resumed_count + 1}
                )
            return found
        return await repo.insert_cob_run(
            conn,
            {
                "run_id": new_id("COB"),
                "business_date": day,
                "status": "RUNNING",
                "triggered_by": triggered_by,
                "started_at": now,
            },
        )


async def _close_batch(
    conn: Connection,
    db: Database,
    settings: Settings,
    batch: list[CobCandidate],
    day: date,
    run: CobRun,
    now: datetime,
) -> tuple[int, list[DelinquencyMove]]:
    """Only the loans the day changes are locked and written: those with installments to mark
    overdue or a bucket to move, judged again once locked (a payment may just have changed
    one); the rest of the batch is left as it is."""
    due = [c.loan_id for c in batch if _due_by(c, day)]
    marking = await repo.loans_with_installments_to_mark(conn, due, day) if due else set()
    moving = [c.loan_id for c in batch if await _move(db, conn, settings, c, day) is not None]
    locked = await repo.lock_candidates(conn, sorted(marking.union(moving)))
    marked = [c.loan_id for c in locked if c.loan_id in marking and _due_by(c, day)]
    overdue = await repo.mark_overdue(conn, marked, day, now) if marked else 0
    moves = [m for c in locked if (m := await _move(db, conn, settings, c, day)) is not None]
    await _record(conn, moves, day, run, now)
    return overdue, moves


def _due_by(loan: CobCandidate, day: date) -> bool:
    oldest = loan.oldest_unpaid_due_date
    return loan.status == "ACTIVE" and oldest is not None and oldest <= day


async def _move(
    db: Database, conn: Connection, settings: Settings, loan: CobCandidate, day: date
) -> DelinquencyMove | None:
    """The loan's move between buckets on `day`, if it moves."""
    product = await product_service.version_of(db, loan.product_code, loan.product_version, conn)
    now_standing = standing(
        loan.oldest_unpaid_due_date if loan.status == "ACTIVE" else None,
        day,
        product.delinquency_buckets,
        settings.non_performing_days,
    )
    if (now_standing.bucket, now_standing.non_performing) == (
        loan.delinquency_bucket,
        loan.non_performing,
    ):
        return None
    return DelinquencyMove(
        loan_id=loan.loan_id,
        customer_id=loan.customer_id,
        previous_bucket=loan.delinquency_bucket,
        bucket=now_standing.bucket,
        days_past_due=now_standing.days_past_due,
        previous_non_performing=loan.non_performing,
        non_performing=now_standing.non_performing,
        oldest_unpaid_due_date=loan.oldest_unpaid_due_date,
        in_arrears=now_standing.non_performing
        or now_standing.bucket != product.delinquency_buckets[0].name,
    )


async def _record(
    conn: Connection, moves: list[DelinquencyMove], day: date, run: CobRun, now: datetime
) -> None:
    await repo.record_delinquency_moves(conn, moves, day, run.run_id, now)
    await outbox.enqueue_many(
        conn,
        [
            outbox.NewEvent(
                event_type="LOAN_DELINQUENCY_CHANGED",
                source=SERVICE,
                target="customer",
                entity_type="LOAN",
                entity_id=m.loan_id,
                data={
                    "loanId": m.loan_id,
                    "customerId": m.customer_id,
                    "businessDate": day.isoformat(),
                    "previousBucket": m.previous_bucket,
                    "bucket": m.bucket,
                    "daysPastDue": m.days_past_due,
                    "nonPerforming": m.non_performing,
                },
            )
            for m in moves
        ],
        now,
    )
