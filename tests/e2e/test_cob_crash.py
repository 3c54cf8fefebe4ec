"""Close of business killed with SIGKILL in the middle of a day, and resumed (docs/business-day.md):
"COB resumed after a SIGKILL in the middle finishes the day without doing any loan twice;
payments made during a COB succeed and are seen by it."

The loan service runs as its own process (manual business-date mode, two loans per COB batch);
the customer and payment services and the gateway run in the test. Ten loans, disbursed in 2025
so that on the business date 2025-09-01 they are 0 to 212 days past due (one has nothing due),
are laid out in loan id order so that the close stops where the test wants it, without a timer:
the test holds a row lock on the seventh loan, so the third batch (the sixth and seventh loans)
waits for it once two batches are committed. While the close is stuck there, two loans it has
not reached are paid through the gateway (one pays all its arrears, one only its oldest
installment). Then the loan service is killed, the lock released, and the service started
again: its runner resumes the run from its cursor and closes the day.

Every expectation is worked out here from the definitions, not read back from the service: an
installment due on or before the day and unpaid is OVERDUE; days past due are the day minus the
oldest unpaid due date; the buckets start at 0/1/31/61/91/181 days; non-performing is more than
90 days; the close visits the active loans with an installment due and unpaid (every loan was
CURRENT before), each once, and records a move (a history row, an outbox event) for each loan
whose bucket or flag changes."""

from __future__ import annotations

import asyncio
import math
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import httpx

from elms.core.internal_auth import HEADER, service_credential
from elms.reconcile import reconcile, render
from tests.conftest import System, running_gateway
from tests.integration.loan.conftest import body, loan_request, new_customer
from tests.support import books
from tests.support.waiting import until

DAY = date(2025, 9, 1)  # the business day closed
NEXT = DAY + timedelta(days=1)
BATCH = 2
BUCKETS = ((0, "CURRENT"), (1, "DPD_1_30"), (31, "DPD_31_60"), (61, "DPD_61_90"),
           (91, "DPD_91_180"), (181, "DPD_180_PLUS"))  # fmt: skip
NON_PERFORMING_DAYS = 90
BUSINESS_DATE = "/api/v1/operations/business-date"

# The loans in loan id order: what each is for, and its disbursement date (six monthly
# installments, the first due on the first of the next month).
ROLES = (
    ("due on the day", date(2025, 8, 10)),  # 0 days past due: OVERDUE, but no move
    ("31 days late", date(2025, 7, 10)),  # the first day of DPD_31_60
    ("nothing due", date(2025, 9, 1)),  # first due 10-01: not visited
    ("62 days late", date(2025, 6, 10)),
    ("92 days late", date(2025, 5, 10)),  # non-performing
    ("123 days late", date(2025, 4, 10)),  # first of the batch that waits
    ("held", date(2025, 2, 10)),  # locked by the test: the close waits for it
    ("pays all", date(2025, 7, 10)),  # pays 08-01 and 09-01 during the close: not visited
    ("pays the oldest", date(2025, 6, 10)),  # pays 07-01 during the close: 31 days, not 62
    ("212 days late", date(2025, 1, 10)),
)
HELD = 6
# Paid during the close: installment numbers, by position.
PAID = {7: [1, 2], 8: [1]}
# Days past due on DAY, as laid out above once the payments are made.
LAID_OUT = [0, 31, 0, 62, 92, 123, 184, 0, 31, 212]

RUN = """SELECT run_id, status, triggered_by, resumed_count, cursor_loan_id, batches,
                loans_processed, installments_overdue, bucket_changes
         FROM loan_db.cob_runs WHERE business_date = $1"""
HISTORY = """SELECT history_id, loan_id, business_date, previous_bucket, bucket, days_past_due,
                    previous_non_performing, non_performing, oldest_unpaid_due_date,
                    cob_run_id
             FROM loan_db.loan_delinquency_history ORDER BY history_id"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def bucket_of(dpd: int) -> str:
    return [name for least, name in BUCKETS if dpd >= least][-1]


def data(response: httpx.Response) -> Any:
    return body(response)["data"]


@dataclass(frozen=True)
class Expected:
    """One loan after the close of DAY, by the definitions."""

    statuses: list[str]
    oldest_unpaid: date
    days_past_due: int
    visited: bool

    @property
    def bucket(self) -> str:
        return bucket_of(self.days_past_due)

    @property
    def non_performing(self) -> bool:
        return self.days_past_due > NON_PERFORMING_DAYS

    @property
    def moved(self) -> bool:
        return self.visited and (self.bucket, self.non_performing) != ("CURRENT", False)

    @property
    def overdue(self) -> int:
        return self.statuses.count("OVERDUE")


def expected(due_dates: list[date], paid: list[int]) -> Expected:
    unpaid = [d for n, d in enumerate(due_dates, 1) if n not in paid]
    statuses = [
        "PAID" if n in paid else "OVERDUE" if d <= DAY else "PENDING"
        for n, d in enumerate(due_dates, 1)
    ]
    oldest = min(unpaid)
    return Expected(statuses, oldest, max((DAY - oldest).days, 0), visited=oldest <= DAY)


@asynccontextmanager
async def loan_process(env: dict[str, str], log: Path) -> AsyncIterator[asyncio.subprocess.Process]:
    """`elms serve loan` in a process of its own, ready to serve; killed at the end if the test
    has not killed it."""
    url = f"http://127.0.0.1:{env['ELMS_LOAN_PORT']}"
    with log.open("ab") as output:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "elms", "serve", "loan", env=env, stdout=output, stderr=output
        )
    try:
        async with httpx.AsyncClient(base_url=url, timeout=30) as probe:

            async def ready() -> bool:
                if process.returncode is not None:
                    raise AssertionError(f"the loan service exited with {process.returncode}")
                try:
                    return (await probe.get("/actuator/health")).status_code == 200
                except httpx.TransportError:
                    return False

            await until(ready, "the loan service to start", 120)
        yield process
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()


async def test_a_close_of_business_killed_half_way_resumes_and_does_no_loan_twice(
    database, tmp_path
):
    ports = {name: _free_port() for name in ("customer", "loan", "payment")}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    settings = database.settings.model_copy(
        update={"business_date_mode": "manual", **{f"{n}_url": u for n, u in urls.items()}}
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("ELMS_")}
    env.update(
        ELMS_DATA_DIR=str(settings.data_dir),
        ELMS_DB_ROLE_SECRET=str(settings.db_role_secret),
        ELMS_LOAN_DATABASE_URL=database.dsn("loan"),
        ELMS_LOAN_PORT=str(ports["loan"]),
        ELMS_CUSTOMER_URL=urls["customer"],
        ELMS_PAYMENT_URL=urls["payment"],
        ELMS_BUSINESS_DATE_MODE="manual",
        ELMS_COB_BATCH_SIZE=str(BATCH),
        # The runner works at start and when the date is moved, never on its timer here.
        ELMS_COB_INTERVAL_SECONDS="3600",
        ELMS_LOG_LEVEL="WARNING",
        ELMS_LOG_JSON="false",
    )
    log = tmp_path / "loan.log"
    admin = await asyncpg.connect(database.admin_url)
    # The books are at DAY, as if an administrator had moved them there.
    await admin.execute(
        "INSERT INTO loan_db.business_date (business_date, target_date, updated_at, updated_by)"
        " VALUES ($1, $1, now() AT TIME ZONE 'UTC', 'test')",
        DAY,
    )
    loans = httpx.AsyncClient(
        base_url=urls["loan"], timeout=30, headers={HEADER: service_credential(settings)}
    )
    system = System(database)
    system.settings = settings
    system.ports.update(customer=ports["customer"], payment=ports["payment"])
    try:
        async with AsyncExitStack() as others:
            async with loan_process(env, log) as first:
                await system.start("customer")
                await system.start("payment")
                gateway = await others.enter_async_context(
                    running_gateway(settings, database.dsn("gateway"))
                )
                ids = await _loans(system, loans)
                due = {loan_id: await _due_dates(loans, loan_id) for loan_id in ids}
                plan = [expected(due[i], PAID.get(n, [])) for n, i in enumerate(ids)]
                assert [p.days_past_due for p in plan] == LAID_OUT
                run, before = await _crash_the_close(
                    database, admin, loans, gateway, first, ids, plan
                )
                assert run["resumed_count"] == 0

            await _sessions_of_the_dead_service_end(admin, urlsplit(database.dsn("loan")).username)
            # Nothing of the batch the kill cut short was committed.
            assert dict(await admin.fetchrow(RUN, DAY)) == dict(run)
            assert await admin.fetch(HISTORY) == before

            async with loan_process(env, log):
                # Its runner resumes the day at start.
                async def closed() -> bool:
                    state = data(await loans.get(BUSINESS_DATE))
                    return state["businessDate"] == NEXT.isoformat()

                await until(closed, "the restarted loan service to close the day")
                await _check_the_day(admin, loans, ids, plan, run, before)

                # Every event delivered (the loan service's relay runs by itself, the test's
                # services' by the test), then the books of the four services balance.
                async def delivered() -> bool:
                    return not await admin.fetchval(
                        "SELECT count(*) FROM loan_db.data_sync_events WHERE status = 'PENDING'"
                    )

                await until(delivered, "the loan service's events to be delivered")
                await books.go_quiet([*system.running_apps(), gateway.app])
                report = await reconcile(database.admin_url)
                assert report.balanced, render(report)
                # The delinquency invariant looked at every loan (a close is COMPLETED).
                assert report.checked["loan.delinquency"] == len(ROLES)
    finally:
        await system.close()
        await loans.aclose()
        await admin.close()


async def _loans(system: System, loans: httpx.AsyncClient) -> list[str]:
    """Ten approved loans, then each disbursed on the date of its role in loan id order."""
    approved = []
    for n in range(len(ROLES)):
        person = await new_customer(system.customer.client, tag=f"cob-crash-{n}")
        made = await loans.post(
            "/api/v1/loans",
            json=loan_request(
                person["customerId"],
                loanAmount="1200.00",
                installmentCount=6,
                applicationDate="2025-01-05",
            ),
        )
        assert made.status_code == 201, made.text
        assert data(made)["status"] == "APPROVED", made.text
        approved.append(data(made)["loanId"])
    ids = sorted(approved)
    for loan_id, (_, disbursed) in zip(ids, ROLES, strict=True):
        answer = await loans.post(
            f"/api/v1/loans/{loan_id}/disburse", json={"disbursementDate": str(disbursed)}
        )
        assert answer.status_code == 200, answer.text
        assert data(answer)["status"] == "ACTIVE"
    return ids


async def _due_dates(loans: httpx.AsyncClient, loan_id: str) -> list[date]:
    answer = await loans.get(f"/api/v1/loans/{loan_id}/installments")
    assert answer.status_code == 200, answer.text
    return [date.fromisoformat(r["dueDate"]) for r in data(answer)["installments"]]


async def _crash_the_close(database, admin, loans, gateway, process, ids, plan) -> tuple[Any, list]:
    """The close of DAY started, stuck on the held loan after two batches, the loans it has not
    reached paid meanwhile; then the loan service killed, and the lock released. Returns the
    run and the history as they were when it died."""
    held = await asyncpg.connect(database.admin_url)
    lock = held.transaction()
    await lock.start()
    try:
        await held.execute("SELECT 1 FROM loan_db.loans WHERE loan_id = $1 FOR UPDATE", ids[HELD])
        moving = asyncio.create_task(loans.post(BUSINESS_DATE, json={"date": str(NEXT)}))

        async def stuck() -> Any:
            # Read first whether the close waits for the test's lock: once it does, the
            # batches before are committed.
            waiting = await admin.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock' AND $1 = ANY(pg_blocking_pids(pid))"
                " AND query LIKE '%loan_id = ANY($1::varchar[]) ORDER BY loan_id FOR UPDATE%'",
                held.get_server_pid(),
            )
            return await admin.fetchrow(RUN, DAY) if waiting else None

        run = await until(stuck, "the close of business to wait for the held loan")
        visited = [ids[n] for n in range(HELD) if plan[n].visited]
        # Two batches done, the third (the sixth and the held loan) not.
        assert len(visited) == 2 * BATCH + 1
        assert (run["status"], run["batches"], run["loans_processed"]) == ("RUNNING", 2, 4)
        assert run["cursor_loan_id"] == visited[2 * BATCH - 1]
        before = await admin.fetch(HISTORY)
        assert [h["loan_id"] for h in before] == [
            i for n, i in enumerate(ids) if i in visited[: 2 * BATCH] and plan[n].moved
        ]

        # Payments during the close, on loans it has not reached: they go through at once.
        for n, numbers in PAID.items():
            await _pay(gateway, ids[n], numbers)
        assert dict(await admin.fetchrow(RUN, DAY)) == dict(run), "the close moved while held"

        moved = await moving
        assert moved.status_code == 202, moved.text
        state = data(moved)
        assert (state["businessDate"], state["targetDate"]) == (str(DAY), str(NEXT))
        assert state["running"]["runId"] == run["run_id"]

        process.send_signal(signal.SIGKILL)
        assert await process.wait() == -signal.SIGKILL
    finally:
        await lock.rollback()
        await held.close()
    return run, before


async def _sessions_of_the_dead_service_end(admin: asyncpg.Connection, role: str) -> None:
    """The killed service's sessions end: its advisory lock goes with them, and the batch
    that waited for the test's lock rolls back (its client is gone)."""

    async def gone() -> bool:
        return not await admin.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND usename = $1",
            role,
        )

    await until(gone, "the killed loan service's sessions to end")
    assert not await admin.fetchval("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")


async def _pay(gateway: Any, loan_id: str, numbers: list[int]) -> None:
    """Installments `numbers` paid whole (with their penalty) through the gateway, on DAY."""
    quote = await gateway.client.post(
        "/api/v1/payments/calculate", json={"loanId": loan_id, "installmentNumbers": numbers}
    )
    assert quote.status_code == 200, quote.text
    assert data(quote)["paymentDate"] == str(DAY)
    amount = data(quote)["calculation"]["finalAmount"]
    paid = await gateway.client.post(
        "/api/v1/payments",
        json={
            "loanId": loan_id,
            "paymentAmount": str(amount),
            "paymentMethod": "BANK_TRANSFER",
            "installmentNumbers": numbers,
        },
    )
    assert paid.status_code == 201, paid.text
    found = await gateway.client.get(f"/api/v1/payments/{data(paid)['paymentId']}")
    assert found.status_code == 200, found.text
    payment = data(found)
    assert (payment["status"], payment["paymentDate"][:10]) == ("COMPLETED", str(DAY))
    assert [i["installmentNumber"] for i in payment["installmentPayments"]] == numbers


async def _check_the_day(admin, loans, ids, plan, run, before) -> None:
    visited = [p for p in plan if p.visited]
    moved = [(i, p) for i, p in zip(ids, plan, strict=True) if p.moved]

    # The run: the one started before the kill, resumed once, each loan visited once.
    answer = await loans.get("/api/v1/operations/cob-runs")
    assert answer.status_code == 200, answer.text
    [done] = data(answer)["content"]
    assert {k: done[k] for k in ("runId", "date", "status", "triggeredBy", "resumedCount")} == {
        "runId": run["run_id"],
        "date": str(DAY),
        "status": "COMPLETED",
        "triggeredBy": "cob-runner",
        "resumedCount": 1,
    }
    assert (
        done["batches"],
        done["loansProcessed"],
        done["installmentsOverdue"],
        done["bucketChanges"],
    ) == (
        math.ceil(len(visited) / BATCH),
        len(visited),
        sum(p.overdue for p in visited),
        len(moved),
    )

    # One move recorded per loan that moved, those of before the kill untouched; one event each.
    history = await admin.fetch(HISTORY)
    assert history[: len(before)] == before
    assert [tuple(h)[1:-1] for h in sorted(history, key=lambda h: h["loan_id"])] == [
        (i, DAY, "CURRENT", p.bucket, p.days_past_due, False, p.non_performing, p.oldest_unpaid)
        for i, p in moved
    ]
    assert {h["cob_run_id"] for h in history} == {run["run_id"]}
    events = await admin.fetch(
        "SELECT entity_id, count(*) AS n FROM loan_db.data_sync_events"
        " WHERE event_type = 'LOAN_DELINQUENCY_CHANGED' GROUP BY entity_id ORDER BY entity_id"
    )
    assert [(e["entity_id"], e["n"]) for e in events] == [(i, 1) for i, _ in moved]

    # Each loan: where it stands on DAY, and its installments.
    rows = await admin.fetch(
        "SELECT loan_id, status, delinquency_bucket, non_performing, days_past_due,"
        " delinquency_as_of, oldest_unpaid_due_date FROM loan_db.loans ORDER BY loan_id"
    )
    assert [tuple(r) for r in rows] == [
        (i, "ACTIVE", p.bucket, p.non_performing, p.days_past_due, DAY, p.oldest_unpaid)
        if p.moved
        else (i, "ACTIVE", "CURRENT", False, 0, None, p.oldest_unpaid)
        for i, p in zip(ids, plan, strict=True)
    ]
    for i, p in zip(ids, plan, strict=True):
        statuses = await admin.fetch(
            "SELECT status FROM loan_db.loan_installments WHERE loan_id = $1"
            " ORDER BY installment_number",
            i,
        )
        assert [s["status"] for s in statuses] == p.statuses, i
