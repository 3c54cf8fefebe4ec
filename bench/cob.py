"""`python -m bench cob`: close of business (COB) at scale, and what it does to payments.

For each size asked (`--loans`, repeatable), on a system of its own (`elms up` on a fresh data
directory, ELMS_BUSINESS_DATE_MODE=manual, no rate limit in the way):

1. a few borrowers are taken through the whole system by the public API (bench/load.py: customer,
   loan, disbursement, three installments paid): the loans the payments below are made on;
2. N ACTIVE loans of 12 installments are generated in loan_db by set-based SQL (the product
   PERSONAL version 1, FLAT, 12 %), as the day before the business date D left them closed:
   installments due before D and unpaid are OVERDUE, the others PENDING or PAID; each loan's
   oldest unpaid due date, bucket, non-performing flag and the day its last move was made are
   those of D − 1. Due dates fall on every day of the month, so about 3 % of the loans have an
   installment falling due on D; `--late-share` of them (default 7 %) are one to eight
   installments behind, so some cross a bucket threshold on D. Their customers are made up (no
   customer_db row): nothing in close of business needs one;
3. pgbench runs on the quiet cluster (bench/machine.py), for the machine's own figure;
4. payments through the gateway (PAYMENT_PROCESSING saga, 1.00 partial payments on the API's
   loans, `--payment-clients` at once) for `--payment-seconds`: latency without COB;
5. the payments go on while an administrator moves the business date to D + 1 through the gateway
   (COB closes D), until GET business-date says D + 1: latency of the payments started while
   COB ran. The run's `cob_runs` row gives its time (finished_at − started_at) and counts;
6. the next day, D + 1, is closed with nothing else running (`--no-quiet-day` skips it): COB's
   own speed, without the payments' share of the machine;
7. the counts are checked: the loans each COB processed and the installments it marked overdue
   are those the data held, its bucket changes are its history rows, and the invariants of
   `elms reconcile` the generator keeps hold after both (the schedules, products, statuses,
   oldest unpaid due dates and delinquency of every active loan). Two never do on generated
   data, and are left out: `loan.outstanding` and `payment.installments`, since no payment
   records stand behind the installments generated PAID.

    .venv/bin/python -m bench cob                                   # 10 000 loans
    .venv/bin/python -m bench cob --loans 10000 --loans 100000 --loans 1000000 --json

Exit 1 on a payment error or a count that does not check. Figures: docs/performance.md.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import secrets
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Any

import asyncpg
import httpx
import typer

from bench import machine
from bench.load import JourneyBroken, Officer
from bench.stats import Timings, summary
from bench.system import admin_url, elms_up, environment, token
from elms.core import jsoncodec
from elms.core.clock import utcnow
from elms.core.config import Settings
from elms.reconcile import INVARIANTS

SETTINGS = {"ELMS_BUSINESS_DATE_MODE": "manual", "ELMS_RATE_LIMIT": "1000000/minute"}
BUSINESS_DATE = "/api/v1/operations/business-date"
PRODUCT = ("PERSONAL", 1)
INSTALLMENTS = 12
CHUNK = 50_000  # loans per INSERT … SELECT statement
PAYMENT = "1.00"
# Payments are counted as "during COB" once COB has been asked for; before, they only warm up.
WARMUP_SECONDS = 2.0
POLL_SECONDS = 0.1
COB_BOUND_SECONDS = 3600
# The reconcile invariants generated loans cannot keep: PAID installments without payments.
NOT_KEPT = frozenset({"loan.outstanding", "payment.installments"})
# The days services count a loan non-performing after: the default (environment() clears ELMS_*).
NON_PERFORMING_DAYS = Settings.model_fields["non_performing_days"].default


def _pick(salt: int, modulo: int) -> str:
    """A pseudo-random 0 … modulo − 1 for loan number g, the same for the same seed ($4)."""
    return f"((((hashint8extended(g, $4 + {salt}) % {modulo}) + {modulo}) % {modulo})::int)"


# One chunk of loans [$2, $3) for business date $1, as COB of $1 − 1 left them. Per loan: o, the
# days since its last due date on or before $1 (the anchor); k, how many installments are due by
# $1 (0: none yet, the anchor is the disbursement); b, how many are due before $1; j, how many of
# those are unpaid (a late loan: `late` below $9 ‰, one to eight, fewer when fewer are due).
# Installment n is due on the anchor + (n − k) months; 1 … b − j are PAID, the rest of 1 … b
# OVERDUE, the others PENDING. $5 now, $6/$7 the product's bucket names and least days, $8 the
# non-performing days.
GENERATE = f"""
WITH drawn AS (
    SELECT g AS i, {_pick(1, 30)} AS o, {_pick(2, INSTALLMENTS)} AS k,
           {_pick(3, 1000)} AS late, {_pick(4, 100)} AS behind, 1 + {_pick(5, 40)} AS size
    FROM generate_series($2::bigint, $3::bigint - 1) AS g
), due AS (
    SELECT *, CASE WHEN o = 0 AND k > 0 THEN k - 1 ELSE k END AS b FROM drawn
), owed AS (
    SELECT *, CASE WHEN late >= $9 THEN 0
                   ELSE least(b, CASE WHEN behind < 50 THEN 1 WHEN behind < 70 THEN 2
                                      WHEN behind < 82 THEN 3 WHEN behind < 90 THEN 4
                                      WHEN behind < 95 THEN 5 WHEN behind < 98 THEN 6
                                      ELSE 8 END) END AS j
    FROM due
), dated AS (
    SELECT *, b - j AS paid, ($1::date - o) AS anchor,
           'LOAN-' || upper(substr(md5($4::text || '-' || i), 1, 24)) AS loan_id,
           'CUST-' || upper(substr(md5($4::text || '-c-' || (i / 3)), 1, 24)) AS customer_id,
           (1200 * size)::numeric(15,2) AS amount
    FROM owed
), aged AS (
    SELECT *, (anchor + (paid + 1 - k) * interval '1 month')::date AS oldest FROM dated
), loan AS (
    SELECT a.*, s.bucket, s.least_days, s.dpd > $8 AS np
    FROM aged a
    CROSS JOIN LATERAL (
        SELECT c.bucket, c.least_days, d.dpd
        FROM (SELECT greatest(($1::date - 1) - a.oldest, 0) AS dpd) d,
             unnest($6::text[], $7::int[]) AS c(bucket, least_days)
        WHERE c.least_days <= d.dpd ORDER BY c.least_days DESC LIMIT 1) s
), loans AS (
    INSERT INTO loan_db.loans (
        loan_id, customer_id, loan_amount, outstanding_amount, interest_rate, installment_count,
        installment_amount, total_repayment_amount, loan_type, status, application_date,
        approval_date, disbursement_date, first_installment_date, last_installment_date,
        maturity_date, credit_verification_status, created_at, updated_at, version,
        interest_method, product_code, product_version, oldest_unpaid_due_date,
        delinquency_bucket, non_performing, days_past_due, delinquency_as_of, in_arrears)
    SELECT loan_id, customer_id, amount, amount - paid * amount / {INSTALLMENTS}, 0.12,
           {INSTALLMENTS}, amount * 1.12 / {INSTALLMENTS}, amount * 1.12, $10, 'ACTIVE',
           (anchor - k * interval '1 month') - interval '5 days',
           (anchor - k * interval '1 month') - interval '5 days',
           anchor - k * interval '1 month', (anchor + (1 - k) * interval '1 month')::date,
           (anchor + ({INSTALLMENTS} - k) * interval '1 month')::date,
           (anchor + ({INSTALLMENTS} - k) * interval '1 month')::date, 'VERIFIED', $5, $5, 1,
           'FLAT', $10, $11, oldest, bucket, np,
           CASE WHEN least_days > 0 THEN least_days ELSE 0 END,
           CASE WHEN least_days > 0 THEN oldest + least_days END, least_days > 0 OR np
    FROM loan
)
INSERT INTO loan_db.loan_installments (
    loan_id, installment_number, due_date, principal_amount, interest_amount, total_amount,
    status, paid_date, paid_amount, remaining_amount, principal_paid, interest_paid, created_at,
    updated_at)
SELECT l.loan_id, n, x.due, l.amount / {INSTALLMENTS}, l.amount * 0.12 / {INSTALLMENTS},
       l.amount * 1.12 / {INSTALLMENTS},
       CASE WHEN n <= l.paid THEN 'PAID' WHEN n <= l.b THEN 'OVERDUE' ELSE 'PENDING' END,
       CASE WHEN n <= l.paid THEN x.due::timestamp END,
       CASE WHEN n <= l.paid THEN l.amount * 1.12 / {INSTALLMENTS} ELSE 0 END,
       CASE WHEN n <= l.paid THEN 0 ELSE l.amount * 1.12 / {INSTALLMENTS} END,
       CASE WHEN n <= l.paid THEN l.amount / {INSTALLMENTS} ELSE 0 END,
       CASE WHEN n <= l.paid THEN l.amount * 0.12 / {INSTALLMENTS} ELSE 0 END,
       $5, $5
FROM loan l
CROSS JOIN generate_series(1, {INSTALLMENTS}) AS n
CROSS JOIN LATERAL (SELECT (l.anchor + (n - l.k) * interval '1 month')::date AS due) x
"""

# What COB visits: active loans with something due or in arrears, then loans paid off in arrears.
CANDIDATES = """SELECT count(*) FROM loan_db.loans
    WHERE (status = 'ACTIVE' AND oldest_unpaid_due_date <= $1) OR in_arrears"""
FALLING_OVERDUE = """SELECT count(*) FROM loan_db.loan_installments i
    JOIN loan_db.loans l USING (loan_id)
    WHERE l.status = 'ACTIVE' AND i.due_date <= $1 AND i.status IN ('PENDING', 'PARTIALLY_PAID')"""
DUE_ON = """SELECT count(DISTINCT i.loan_id) FROM loan_db.loan_installments i
    JOIN loan_db.loans l USING (loan_id)
    WHERE l.status = 'ACTIVE' AND i.due_date = $1 AND i.status <> 'PAID'"""
LATE = """SELECT count(*) FROM loan_db.loans
    WHERE status = 'ACTIVE' AND oldest_unpaid_due_date < $1"""


async def generate(admin: str, loans: int, day: date, seed: int, late_permille: int) -> float:
    """N ACTIVE loans with their schedules, as COB of the day before `day` left them; returns
    the seconds it took (the tables vacuumed and analysed, as autovacuum would have by then)."""
    started = time.monotonic()
    conn = await asyncpg.connect(admin, server_settings={"timezone": "UTC"})
    try:
        buckets = json.loads(
            await conn.fetchval(
                "SELECT delinquency_buckets FROM loan_db.loan_product_versions"
                " WHERE product_code = $1 AND version = $2",
                *PRODUCT,
            )
        )
        names = [b["name"] for b in buckets]
        least = [int(b["minDays"]) for b in buckets]
        for low in range(0, loans, CHUNK):
            high = min(low + CHUNK, loans)
            await conn.execute(
                GENERATE,
                day,
                low,
                high,
                seed,
                utcnow(),
                names,
                least,
                NON_PERFORMING_DAYS,
                late_permille,
                PRODUCT[0],
                PRODUCT[1],
            )
            _progress(f"generated {high:,} of {loans:,} loans ({time.monotonic() - started:.0f} s)")
        await conn.execute("VACUUM (ANALYZE) loan_db.loans, loan_db.loan_installments")
    finally:
        await conn.close()
    return time.monotonic() - started


@dataclass(frozen=True)
class Options:
    payment_clients: int
    payment_loans: int
    payment_seconds: float
    pgbench_seconds: int
    pgbench_scale: int
    late_permille: int
    quiet_day: bool


@dataclass
class Phase:
    """Where a payment's timing goes: chosen when the payment starts."""

    timings: Timings


def _progress(text: str) -> None:
    print(f"  {text}", file=sys.stderr, flush=True)


async def _borrowers(api: httpx.AsyncClient, count: int, clients: int, tag: str, day: date):
    """Borrowers through the whole API (bench/load.py), `clients` at once; their timings."""
    timings = Timings()
    numbers = iter(range(count))

    async def client(index: int) -> None:
        officer = Officer(api, timings, f"{tag}-{index}", day)
        for number in numbers:
            try:
                await officer.borrower(number)
            except JourneyBroken:
                continue

    await asyncio.gather(*(client(i) for i in range(clients)))
    return timings


async def _payments(
    api: httpx.AsyncClient, loans: list[str], clients: int, phase: Phase, stop: asyncio.Event
) -> None:
    """`clients` officers paying 1.00 on their own loans (each loan one officer's: payments on
    one loan would wait for each other), one after the other, until `stop`."""

    async def client(index: int) -> None:
        mine = loans[index::clients]
        paid = 0
        while not stop.is_set():
            officer = Officer(api, phase.timings, f"cob-{index}", date.min)
            body = {
                "loanId": mine[paid % len(mine)],
                "paymentAmount": PAYMENT,
                "paymentMethod": "BANK_TRANSFER",
                "isPartialPayment": True,
            }
            paid += 1
            try:
                await officer.call("payment", "POST", "/api/v1/payments", body, expect=201)
            except JourneyBroken:
                await asyncio.sleep(0.1)

    await asyncio.gather(*(client(i) for i in range(clients)))


async def _close_of_business(
    api: httpx.AsyncClient, admin_token: str, target: date
) -> tuple[int, float]:
    """An administrator moves the business date to `target`; returns the first answer's status
    and the seconds until GET business-date says it is there."""
    headers = {"Authorization": f"Bearer {admin_token}"}
    started = time.monotonic()
    moved = await api.post(BUSINESS_DATE, json={"date": target.isoformat()}, headers=headers)
    if moved.status_code not in (200, 202):
        raise RuntimeError(f"moving the business date: {moved.status_code} {moved.text[:300]}")
    while True:
        state = (await api.get(BUSINESS_DATE, headers=headers)).json()["data"]
        if date.fromisoformat(state["businessDate"]) >= target:
            return moved.status_code, time.monotonic() - started
        if time.monotonic() - started > COB_BOUND_SECONDS:
            raise RuntimeError(f"close of business not done after {COB_BOUND_SECONDS} s")
        await asyncio.sleep(POLL_SECONDS)


async def _payments_around_cob(
    api: httpx.AsyncClient, admin_token: str, loans: list[str], day: date, options: Options
) -> dict[str, Any]:
    """Payments for `payment_seconds` (without COB), then on while COB closes `day`; the
    payments started while it ran are those "during"."""
    without = Timings()
    phase = Phase(without)
    stop = asyncio.Event()
    load = asyncio.create_task(_payments(api, loans, options.payment_clients, phase, stop))
    try:
        await asyncio.sleep(options.payment_seconds)
        phase.timings = Timings()  # between the two: not counted
        await asyncio.sleep(WARMUP_SECONDS)
        during = phase.timings = Timings()
        _progress(f"close of business for {day}")
        answer, waited = await _close_of_business(api, admin_token, day + timedelta(days=1))
        phase.timings = Timings()
    finally:
        stop.set()
        await load
    return {
        "answer": answer,
        "wallSeconds": round(waited, 3),
        "payments": {
            "clients": options.payment_clients,
            "loans": len(loans),
            "withoutCob": summary(without, options.payment_seconds).get("payment"),
            "duringCob": summary(during, waited).get("payment"),
            "errors": without.error_count + during.error_count,
            "errorSamples": {
                "withoutCob": without.errors.get("payment", [])[:3],
                "duringCob": during.errors.get("payment", [])[:3],
            },
        },
    }


async def _data(conn: asyncpg.Connection, day: date) -> dict[str, int]:
    """What the loans hold before COB of `day`, and what it should then do."""
    return {
        "activeLoans": await conn.fetchval(
            "SELECT count(*) FROM loan_db.loans WHERE status = 'ACTIVE'"
        ),
        "installments": await conn.fetchval("SELECT count(*) FROM loan_db.loan_installments"),
        "dueOnTheDay": await conn.fetchval(DUE_ON, day),
        "late": await conn.fetchval(LATE, day),
        "candidates": await conn.fetchval(CANDIDATES, day),
        "fallingOverdue": await conn.fetchval(FALLING_OVERDUE, day),
    }


async def _cob_run(conn: asyncpg.Connection, day: date, active: int) -> dict[str, Any]:
    row = await conn.fetchrow(
        """SELECT run_id, status, started_at, finished_at, batches, loans_processed,
                  installments_overdue, bucket_changes, resumed_count
           FROM loan_db.cob_runs WHERE business_date = $1""",
        day,
    )
    seconds = (row["finished_at"] - row["started_at"]).total_seconds()
    return {
        "runId": row["run_id"],
        "date": day.isoformat(),
        "status": row["status"],
        "seconds": round(seconds, 3),
        "activeLoansPerSecond": round(active / seconds),
        "batches": row["batches"],
        "loansProcessed": row["loans_processed"],
        "installmentsOverdue": row["installments_overdue"],
        "bucketChanges": row["bucket_changes"],
        "resumed": row["resumed_count"],
    }


async def _counts(conn: asyncpg.Connection, cob: dict, data: dict) -> list[str]:
    """What a COB run counted that the data before it does not account for."""
    history = await conn.fetchval(
        "SELECT count(*) FROM loan_db.loan_delinquency_history WHERE cob_run_id = $1",
        cob["runId"],
    )
    return [
        f"{cob['date']}: {name} {got}, expected {want}"
        for name, got, want in (
            ("status", cob["status"], "COMPLETED"),
            ("loans processed", cob["loansProcessed"], data["candidates"]),
            ("installments marked overdue", cob["installmentsOverdue"], data["fallingOverdue"]),
            ("bucket changes (history rows)", cob["bucketChanges"], history),
        )
        if got != want
    ]


async def _invariants(conn: asyncpg.Connection) -> list[str]:
    """The reconcile invariants the generator keeps (all but NOT_KEPT), up to 5 samples each."""
    problems = []
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        for invariant in INVARIANTS:
            if invariant.name in NOT_KEPT:
                continue
            rows = await conn.fetch(
                f"SELECT * FROM ({invariant.violations}) AS v LIMIT 5",
                *(NON_PERFORMING_DAYS for _ in invariant.params),
            )
            problems += [f"[{invariant.name}] {r[0]}: {r[1]}" for r in rows]
    return problems


async def _close_alone(
    api: httpx.AsyncClient, admin_token: str, conn: asyncpg.Connection, day: date
) -> tuple[dict[str, Any], list[str]]:
    """COB of `day` with nothing else running: its run, and what its counts do not match."""
    data = await _data(conn, day)
    _progress(f"close of business for {day}, alone")
    answer, waited = await _close_of_business(api, admin_token, day + timedelta(days=1))
    run = await _cob_run(conn, day, data["activeLoans"])
    run.update(answer=answer, wallSeconds=round(waited, 3))
    return run, await _counts(conn, run, data)


async def _loans_to_pay(
    api: httpx.AsyncClient, conn: asyncpg.Connection, options: Options, day: date
) -> list[str]:
    """The loans of borrowers taken through the API, to pay on."""
    tag = secrets.token_hex(3)
    _progress(f"{options.payment_loans} borrowers through the API")
    made = await _borrowers(api, options.payment_loans, options.payment_clients, tag, day)
    if made.error_count:
        raise RuntimeError(f"borrowers through the API failed: {made.errors}")
    rows = await conn.fetch(
        """SELECT l.loan_id FROM loan_db.loans l
           JOIN customer_db.customers c ON c.customer_id = l.customer_id
           WHERE l.status = 'ACTIVE' AND c.email LIKE $1 ORDER BY l.loan_id""",
        f"bench.{tag}-%",
    )
    return [r["loan_id"] for r in rows]


async def _pgbench(admin: str, options: Options) -> dict[str, Any]:
    _progress("pgbench")
    clients, seconds, scale = (
        options.payment_clients,
        options.pgbench_seconds,
        options.pgbench_scale,
    )
    tps = await machine.pgbench_tps(admin, clients, seconds, scale)
    return {"tps": round(tps, 1), "clients": clients, "scale": scale, "seconds": seconds}


async def _run(env: dict[str, str], data_dir: Path, loans: int, options: Options) -> dict:
    url = f"http://127.0.0.1:{env['ELMS_GATEWAY_PORT']}"
    admin = admin_url(data_dir)
    officer = token(env, "--sub", "bench-cob", "--role", "LOAN_OFFICER", "--ttl", "7200")
    administrator = token(env, "--sub", "bench-cob-admin", "--role", "ADMIN", "--ttl", "7200")
    clients = options.payment_clients
    limits = httpx.Limits(max_connections=clients * 2 + 2, max_keepalive_connections=clients * 2)
    headers = {"Authorization": f"Bearer {officer}", "Content-Type": "application/json"}
    conn = await asyncpg.connect(admin, server_settings={"timezone": "UTC"})
    try:
        async with httpx.AsyncClient(
            base_url=url, headers=headers, limits=limits, timeout=120
        ) as api:
            day = date.fromisoformat((await api.get(BUSINESS_DATE)).json()["data"]["businessDate"])
            paying = await _loans_to_pay(api, conn, options, day)
            seed = secrets.randbelow(2**31)
            generated = await generate(admin, loans, day, seed, options.late_permille)
            data = await _data(conn, day)
            result: dict[str, Any] = {"loans": loans, "generateSeconds": round(generated, 1)}
            result["data"] = data
            if options.pgbench_seconds:
                result["pgbench"] = await _pgbench(admin, options)
            _progress(f"payments, {options.payment_seconds:g} s without COB, then during it")
            around = await _payments_around_cob(api, administrator, paying, day, options)
            result["cob"] = await _cob_run(conn, day, data["activeLoans"])
            result["cob"].update(answer=around["answer"], wallSeconds=around["wallSeconds"])
            result["payments"] = around["payments"]
            problems = await _counts(conn, result["cob"], data)
            if options.quiet_day:
                # The next day closed with nothing else running: COB's own speed.
                following = day + timedelta(days=1)
                result["cobAlone"], wrong = await _close_alone(api, administrator, conn, following)
                problems += wrong
            _progress("checking the invariants")
            problems += await _invariants(conn)
            result["checks"] = {"problems": problems, "consistent": not problems}
    finally:
        await conn.close()
    return result


def _size(loans: int, options: Options, keep: bool, work_dir: Path | None) -> dict[str, Any]:
    """One size, on a system of its own in a fresh data directory (removed unless `keep`)."""
    work = Path(tempfile.mkdtemp(prefix="elms-cob-", dir=work_dir))
    data_dir = work / "data"
    env = environment(data_dir, **SETTINGS)
    began = time.monotonic()
    try:
        with (work / "elms-up.log").open("w") as log, elms_up(env, stderr=log):
            result = asyncio.run(_run(env, data_dir, loans, options))
    finally:
        if keep:
            _progress(f"data directory and log kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    result["totalSeconds"] = round(time.monotonic() - began, 1)
    return result


def _ms(op: dict | None, key: str) -> str:
    return "-" if op is None else str(op[key])


def render(result: dict) -> str:
    lines = [
        f"Close of business on {result['machine']['cpus']} CPUs ({result['machine']['platform']})",
        "",
        f"  {'loans':>9} {'COB s':>7} {'loans/s':>8} {'alone s':>7} {'processed':>9}"
        f" {'overdue':>8} {'moves':>6} | payment ms: {'p50':>5} {'p99':>5}"
        f" {'during p50':>10} {'p99':>5} {'n':>4} | {'pgbench':>7}",
    ]
    for r in result["runs"]:
        cob, pay = r["cob"], r["payments"]
        without, during = pay["withoutCob"], pay["duringCob"]
        alone = r.get("cobAlone", {}).get("seconds", "-")
        pgbench = r.get("pgbench", {}).get("tps", "-")
        lines.append(
            f"  {r['data']['activeLoans']:>9,} {cob['seconds']:>7}"
            f" {cob['activeLoansPerSecond']:>8,} {alone:>7} {cob['loansProcessed']:>9,}"
            f" {cob['installmentsOverdue']:>8,} {cob['bucketChanges']:>6,} |"
            f" {'':>11} {_ms(without, 'p50ms'):>5} {_ms(without, 'p99ms'):>5}"
            f" {_ms(during, 'p50ms'):>10} {_ms(during, 'p99ms'):>5} {_ms(during, 'count'):>4} |"
            f" {pgbench:>7}"
        )
    lines += [
        "",
        "  COB s: the run's finished_at − started_at, under the payments; loans/s: active loans"
        " ÷ COB s; alone s: the next day's COB with nothing else running; n: payments started"
        " during COB",
    ]
    for r in result["runs"]:
        data, checks = r["data"], r["checks"]
        lines.append(
            f"  {data['activeLoans']:,} loans: generated in {r['generateSeconds']} s,"
            f" {data['dueOnTheDay']:,} with an installment due on the day, {data['late']:,} late;"
            f" payment errors {r['payments']['errors']};"
            f" counts {'consistent' if checks['consistent'] else 'NOT consistent'}"
        )
        lines += [f"    {p}" for p in checks["problems"]]
        for phase, samples in r["payments"]["errorSamples"].items():
            lines += [f"    {phase}: {s}" for s in samples]
    return "\n".join(lines)


def main(
    loans: Annotated[
        list[int] | None,
        typer.Option(help="Loans to generate, repeatable: a system each. Default 10000"),
    ] = None,
    payment_clients: Annotated[int, typer.Option(min=1, max=64)] = 4,
    payment_loans: Annotated[
        int, typer.Option(min=1, max=1000, help="Loans made through the API to pay on")
    ] = 24,
    payment_seconds: Annotated[
        float, typer.Option(min=1, max=3600, help="Payments without COB")
    ] = 20,
    late_share: Annotated[
        float, typer.Option(min=0, max=1, help="Share of the generated loans behind")
    ] = 0.07,
    pgbench_seconds: Annotated[int, typer.Option(min=0, max=3600, help="0: skip")] = 30,
    pgbench_scale: Annotated[int, typer.Option(min=1, max=1000)] = 10,
    work_dir: Annotated[
        Path | None, typer.Option(help="Where the data directories go. Default: the temp dir")
    ] = None,
    quiet_day: Annotated[
        bool, typer.Option(help="Then close the next day with no payments running")
    ] = True,
    keep: Annotated[bool, typer.Option(help="Keep each data directory and its log")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Close of business on generated loans, each size on a system of its own."""
    sizes = loans or [10_000]
    if min(sizes) < 1:
        raise typer.BadParameter("at least one loan", param_hint="--loans")
    if payment_loans < payment_clients:
        raise typer.BadParameter("at least one loan per client", param_hint="--payment-loans")
    options = Options(
        payment_clients,
        payment_loans,
        payment_seconds,
        pgbench_seconds,
        pgbench_scale,
        round(late_share * 1000),
        quiet_day,
    )
    runs = []
    for size in sizes:
        print(f"{size:,} loans:", file=sys.stderr, flush=True)
        runs.append(_size(size, options, keep, work_dir))
    result = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform()}, "runs": runs}
    print(jsoncodec.dumps(result) if as_json else render(result))
    if any(r["payments"]["errors"] or not r["checks"]["consistent"] for r in runs):
        raise typer.Exit(1)
