"""The business date and close of business (`/api/v1/operations`): read by anyone signed in,
moved by administrators (the gateway's scope `operations:manage`, checked again here)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from fastapi import Depends
from starlette.responses import Response

from elms.core import envelope
from elms.core.clock import utcnow
from elms.core.envelope import Envelope
from elms.core.principal import forbidden
from elms.core.schemas import CamelModel, Day, Page, WireModel
from elms.core.web import OFFICERS_ONLY, CallDep, CallerDep, PageNumber, PageSize, router
from elms.loan import business_day as cob
from elms.loan import repository as repo
from elms.loan.business_day import BusinessDateView, Runner

operations = router("/api/v1/operations", tags=["operations"])

# How long moving the business date waits for its close of business before answering 202 (it
# goes on either way; GET business-date follows it).
WAIT_SECONDS = 5.0


def _admins_only(caller: CallerDep) -> None:
    # A service's call (no role: `elms cob` with the credential) is an operator's.
    if caller.role is not None and caller.role != "ADMIN":
        raise forbidden("Only an administrator moves the business date")


ADMINS_ONLY = Depends(_admins_only)


class CobRunOut(CamelModel):
    """One business day's close: its counts, and how often it was resumed after a crash."""

    run_id: str
    date: date
    status: str
    triggered_by: str
    started_at: datetime
    finished_at: datetime | None
    resumed_count: int
    batches: int
    loans_processed: int
    installments_overdue: int
    bucket_changes: int


class LastCloseOut(CamelModel):
    date: date
    status: str
    started_at: datetime
    finished_at: datetime | None
    loans_processed: int


class BusinessDateOut(CamelModel):
    """The business date, its mode, where an administrator asked it to go (manual mode), and
    the last close of business."""

    business_date: date
    mode: str
    target_date: date
    last_close_of_business: LastCloseOut | None
    running: CobRunOut | None


class MoveBusinessDate(WireModel):
    date: Day


def _wire(found: BusinessDateView) -> dict[str, Any]:
    last = found.last
    return {
        "businessDate": found.row.business_date if found.mode == "manual" else found.today,
        "mode": found.mode,
        "targetDate": found.row.target_date if found.mode == "manual" else found.today,
        "lastCloseOfBusiness": None
        if last is None
        else {
            "date": last.business_date,
            "status": last.status,
            "startedAt": last.started_at,
            "finishedAt": last.finished_at,
            "loansProcessed": last.loans_processed,
        },
        "running": cob.run_wire(found.running) if found.running else None,
    }


@operations.get("/business-date", response_model=Envelope[BusinessDateOut])
async def business_date(call: CallDep) -> Response:
    return envelope.success(
        _wire(await cob.view(call.db, call.request.app.state.business_day)), "Business date"
    )


@operations.post(
    "/business-date", dependencies=[ADMINS_ONLY], response_model=Envelope[BusinessDateOut]
)
async def move_business_date(body: MoveBusinessDate, call: CallDep) -> Response:
    """Manual mode: close of business runs for each day up to the day before `date`, then the
    business date is `date`. 200 when that is done within a few seconds, else 202 while it goes
    on (GET follows it); 409 COB_RUNNING while a close is under way; 422 for a date not after
    the current one, or in calendar mode."""
    business = call.request.app.state.business_day
    runner: Runner = call.request.app.state.cob
    who = call.acting_user() or "operator"
    try:
        await cob.move_to(call.db, business, body.date, who, utcnow())
    finally:
        # Refused because a close is under way (one left by a crash, say): the runner is
        # nudged to take it up now rather than at its next interval.
        runner.wake.set()
    done = await runner.reached(body.date, WAIT_SECONDS)
    found = _wire(await cob.view(call.db, business))
    return envelope.success(
        found,
        "Business date moved" if done else "Close of business is running",
        200 if done else 202,
    )


@operations.get("/cob-runs", dependencies=[OFFICERS_ONLY], response_model=Envelope[Page[CobRunOut]])
async def cob_runs(call: CallDep, page: PageNumber = 0, size: PageSize = 20) -> Response:
    async with call.db.connection() as conn:
        runs, total = await repo.list_cob_runs(conn, size, page * size)
    return envelope.success(
        Page[dict].of([cob.run_wire(r) for r in runs], page, size, total).wire(),
        "Close of business runs",
    )
