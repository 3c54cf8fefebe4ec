"""`python -m bench.chaos`: the fault-injection suite (issue 13).

It starts `elms up` on a fresh data directory, drives a bounded load in which every request
carries an `Idempotency-Key` when it moves anything and is sent again under the same key until
it gets a final answer, injects faults on a schedule (bench/faults.py), waits for every saga to
end and every outbox to drain, and then checks, reading the four schemas directly: every
payment answered 201 exists once, COMPLETED, for its amount, and is applied to its loan once; no
loan has a completed payment its client was not told of; no 500 was answered; `elms reconcile`
balances; every fault healed. Exit 1 if anything does not hold.

    .venv/bin/python -m bench.chaos --profile short     # one fault of each kind, ~3 minutes
    .venv/bin/python -m bench.chaos --profile long      # every fault on every process, twice
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import asyncpg
import httpx
import typer

from bench import faults
from bench.system import admin_url, elms_up, environment, reconcile, token
from elms.core import jsoncodec
from elms.core.business_day import today

app = typer.Typer(add_completion=False)


@dataclass(frozen=True)
class Profile:
    clients: int
    schedule: list[faults.Fault]
    warmup_seconds: float  # load before the first fault
    gap_seconds: float  # load between a fault healing and the next
    breaker_open_seconds: int


PROFILES = {
    "short": Profile(4, faults.short_schedule(), 5, 4, 10),
    "long": Profile(12, faults.long_schedule(), 20, 10, 30),
}
# What the run sets beside the profile: no rate limit in the way, sagas whose gateway died
# taken over within seconds rather than half a minute.
SETTINGS = {
    "ELMS_RATE_LIMIT": "1000000/minute",
    "ELMS_SAGA_HEARTBEAT_SECONDS": "2",
    "ELMS_SAGA_STALE_AFTER_SECONDS": "10",
    "ELMS_SAGA_RECOVERY_INTERVAL_SECONDS": "2",
}
LOAN_AMOUNT = "6000.00"
INSTALLMENTS_PAID = 3
# A request that has no final answer after this long is given up, and the run fails.
REQUEST_BOUND_SECONDS = 150
CLIENT_TIMEOUT_SECONDS = 30
APPROVAL_WAIT_SECONDS = 120
HEAL_BOUND_SECONDS = 120
DRAIN_BOUND_SECONDS = 180
RUNNING = ("STARTED", "IN_PROGRESS", "COMPENSATING")
SCHEMAS = ("customer_db", "loan_db", "payment_db", "banking_gateway")
# A 5xx that is a saga's final answer (it ended without completing) rather than an outage.
SAGA_FINAL_CODES = frozenset({"SERVICE_UNAVAILABLE", "SAGA_TIMEOUT"})


class Abandoned(Exception):
    """The borrower goes no further (a refusal, a request given up, or the load's end)."""


@dataclass
class Ledger:
    """What the clients sent and were answered."""

    requests: Counter = field(default_factory=Counter)  # by operation
    answers: Counter = field(default_factory=Counter)  # by status (or transport error)
    server_errors: list[dict] = field(default_factory=list)  # every 500 (or other 5xx)
    unanswered: list[dict] = field(default_factory=list)  # given up after the bound
    refusals: list[dict] = field(default_factory=list)  # final answers that were not 2xx
    payments: list[dict] = field(default_factory=list)  # key, loan, final answer
    loans: list[dict] = field(default_factory=list)
    borrowers_finished: int = 0


def _error(response: httpx.Response) -> dict:
    with contextlib.suppress(ValueError):
        return jsoncodec.loads(response.content).get("error") or {}
    return {}


@dataclass
class Client:
    api: httpx.AsyncClient
    ledger: Ledger
    tag: str
    today: date
    stopping: asyncio.Event

    async def send(
        self, op: str, method: str, path: str, body: Any = None, key: str | None = None
    ) -> httpx.Response:
        """Send until a final answer: a 503/504/502/429, no connection or a timeout is sent
        again (under the same key), with a bounded backoff."""
        self.ledger.requests[op] += 1
        content = jsoncodec.dumps(body).encode() if body is not None else None
        headers = {"Idempotency-Key": key} if key else None
        give_up = time.monotonic() + REQUEST_BOUND_SECONDS
        backoff = 0.2
        while True:
            try:
                response = await self.api.request(method, path, content=content, headers=headers)
            except httpx.TransportError as error:
                self.ledger.answers[type(error).__name__] += 1
                last = type(error).__name__
            else:
                status = response.status_code
                self.ledger.answers[str(status)] += 1
                last = f"HTTP {status}"
                error = _error(response) if status >= 400 else {}
                saga_ended = bool(error.get("sagaId")) and error.get("code") in SAGA_FINAL_CODES
                if saga_ended or (status < 500 and status != 429):
                    return response  # a final answer (a saga that ended undone included)
                if status in (502, 503, 504, 429):
                    pass  # an outage: again
                else:
                    self.ledger.server_errors.append(
                        {"op": op, "path": path, "key": key, "status": status, "error": error}
                    )
                    raise Abandoned
            if time.monotonic() > give_up:
                self.ledger.unanswered.append({"op": op, "path": path, "key": key, "last": last})
                raise Abandoned
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 2.0)

    async def expect(
        self, op: str, method: str, path: str, body: Any = None, key: str | None = None
    ) -> Any:
        """A step of the borrower's way: anything but 2xx ends it."""
        if self.stopping.is_set():
            raise Abandoned
        response = await self.send(op, method, path, body, key)
        return self._data(op, key, response)

    def _data(self, op: str, key: str | None, response: httpx.Response) -> Any:
        if response.status_code >= 300:
            self.ledger.refusals.append(
                {"op": op, "key": key, "status": response.status_code, "error": _error(response)}
            )
            raise Abandoned
        return jsoncodec.loads(response.content)["data"]

    async def saga_command(self, op: str, path: str, body: Any, key: str) -> httpx.Response:
        """POST a saga's request; a 202 is followed until the saga ends, then the request is
        sent again under its key for the saga's final answer."""
        response = await self.send(op, "POST", path, body, key)
        while response.status_code == 202:
            saga_id = jsoncodec.loads(response.content)["data"]["sagaId"]
            await self._saga_ended(saga_id)
            response = await self.send(op, "POST", path, body, key)
        return response

    async def _saga_ended(self, saga_id: str) -> None:
        deadline = time.monotonic() + REQUEST_BOUND_SECONDS
        while True:
            answer = await self.send("saga_read", "GET", f"/api/v1/saga/states/{saga_id}")
            if (
                answer.status_code == 200
                and jsoncodec.loads(answer.content)["data"]["status"] not in RUNNING
            ):
                return
            if time.monotonic() > deadline:
                self.ledger.unanswered.append({"op": "saga_end", "sagaId": saga_id})
                raise Abandoned
            await asyncio.sleep(0.5)

    async def borrower(self, number: int) -> None:
        tag = f"{self.tag}-{number}"
        disbursed = (self.today - timedelta(days=100)).replace(day=1)
        created = await self.expect(
            "customer_create",
            "POST",
            "/api/v1/customers",
            {
                "firstName": "Chaos",
                "lastName": f"Borrower {number}",
                "email": f"chaos.{tag}@example.com",
                "creditLimit": "50000.00",
                "creditScore": 760,
                "annualIncome": "120000.00",
            },
            key=f"{tag}-customer",
        )
        customer_id = created["customerId"]
        customer = f"/api/v1/customers/{customer_id}"
        await self.expect(
            "customer_verify",
            "PUT",
            customer,
            {"version": 1, "kycStatus": "VERIFIED"},
            key=f"{tag}-kyc",
        )
        if self.stopping.is_set():
            raise Abandoned
        loan_key = f"{tag}-loan"
        answer = await self.saga_command(
            "loan_create",
            "/api/v1/loans",
            {
                "customerId": customer_id,
                "loanAmount": LOAN_AMOUNT,
                "interestRate": "0.12",
                "installmentCount": 6,
                "loanType": "PERSONAL",
                "applicationDate": disbursed - timedelta(days=5),
            },
            loan_key,
        )
        record = {"key": loan_key, "customerId": customer_id, "status": answer.status_code}
        self.ledger.loans.append(record)
        loan = self._data("loan_create", loan_key, answer)
        record.update(loanId=loan["loanId"], loanStatus=loan["status"], sagaId=loan.get("sagaId"))
        if loan["status"] != "APPROVED":
            raise Abandoned
        await self._approval_delivered(customer, loan["loanAmount"])
        path = f"/api/v1/loans/{loan['loanId']}"
        await self.expect(
            "loan_disburse",
            "POST",
            f"{path}/disburse",
            {"disbursementDate": disbursed},
            key=f"{tag}-disburse",
        )
        schedule = await self.expect("schedule_read", "GET", f"{path}/installments")
        for row in schedule["installments"][:INSTALLMENTS_PAID]:
            quote = await self.expect(
                "payment_calculate",
                "POST",
                "/api/v1/payments/calculate",
                {
                    "loanId": loan["loanId"],
                    "paymentDate": row["dueDate"],
                    "installmentNumbers": [row["installmentNumber"]],
                },
            )
            if self.stopping.is_set():
                raise Abandoned
            key = f"{tag}-pay-{row['installmentNumber']}"
            paid: dict[str, Any] = {"key": key, "loanId": loan["loanId"], "status": None}
            self.ledger.payments.append(paid)
            answer = await self.saga_command(
                "payment",
                "/api/v1/payments",
                {
                    "loanId": loan["loanId"],
                    "paymentAmount": quote["calculation"]["finalAmount"],
                    "paymentDate": row["dueDate"],
                    "paymentMethod": "BANK_TRANSFER",
                },
                key,
            )
            paid["status"] = answer.status_code
            if answer.status_code == 201:
                data = jsoncodec.loads(answer.content)["data"]
                paid.update(
                    paymentId=data["paymentId"],
                    amount=str(data["paymentAmount"]),
                    sagaId=data.get("sagaId"),
                )
            else:
                paid["error"] = _error(answer)
                self._data("payment", key, answer)
        self.ledger.borrowers_finished += 1

    async def _approval_delivered(self, customer: str, amount: Any) -> None:
        """The approval reaches the customer service through the loan service's outbox."""
        deadline = time.monotonic() + APPROVAL_WAIT_SECONDS
        while (await self.expect("customer_read", "GET", customer))["usedCredit"] != amount:
            if time.monotonic() > deadline:
                self.ledger.refusals.append({"op": "approval_delivery", "customer": customer})
                raise Abandoned
            await asyncio.sleep(0.1)


async def _load(
    api: httpx.AsyncClient, ledger: Ledger, clients: int, tag: str, stopping: asyncio.Event
) -> None:
    async def client(index: int) -> None:
        officer = Client(api, ledger, f"{tag}-{index}", today(), stopping)
        number = 0
        while not stopping.is_set():
            number += 1
            with contextlib.suppress(Abandoned):
                await officer.borrower(number)
            await asyncio.sleep(0)

    await asyncio.gather(*(client(i) for i in range(clients)))


async def _drain(admin: str) -> dict[str, Any]:
    """Wait (bounded) until no saga runs and no outbox event is pending."""
    started = time.monotonic()
    conn = await asyncpg.connect(admin)
    try:
        while True:
            running = await conn.fetchval(
                "SELECT count(*) FROM banking_gateway.saga_states WHERE status = ANY($1)",
                list(RUNNING),
            )
            pending = 0
            for schema in SCHEMAS:
                pending += await conn.fetchval(
                    f"SELECT count(*) FROM {schema}.data_sync_events WHERE status = 'PENDING'"
                )
            if not running and not pending:
                return {"seconds": round(time.monotonic() - started, 1), "drained": True}
            if time.monotonic() - started > DRAIN_BOUND_SECONDS:
                return {
                    "seconds": round(time.monotonic() - started, 1),
                    "drained": False,
                    "runningSagas": running,
                    "pendingEvents": pending,
                }
            await asyncio.sleep(1)
    finally:
        await conn.close()


async def _check_books(admin: str, ledger: Ledger) -> dict[str, Any]:
    """What the four schemas hold against what the clients were answered."""
    conn = await asyncpg.connect(admin)
    try:
        sagas = await conn.fetch(
            "SELECT saga_type, status, count(*) AS n FROM banking_gateway.saga_states"
            " GROUP BY saga_type, status ORDER BY saga_type, status"
        )
        loan_ids = sorted(
            {p["loanId"] for p in ledger.payments}
            | {loan["loanId"] for loan in ledger.loans if "loanId" in loan}
        )
        payments = await conn.fetch(
            "SELECT payment_id, loan_id, status, payment_amount FROM payment_db.payments"
            " WHERE loan_id = ANY($1)",
            loan_ids,
        )
        applied = await conn.fetch(
            "SELECT payment_id, loan_id FROM loan_db.loan_payment_applications"
            " WHERE loan_id = ANY($1)",
            loan_ids,
        )
        statuses = await conn.fetch(
            "SELECT status, count(*) AS n FROM payment_db.payments GROUP BY status"
        )
        loans_per_customer = await conn.fetch(
            "SELECT customer_id, count(*) AS n FROM loan_db.loans WHERE customer_id = ANY($1)"
            " GROUP BY customer_id HAVING count(*) > 1",
            [loan["customerId"] for loan in ledger.loans],
        )
    finally:
        await conn.close()
    stored = {row["payment_id"]: row for row in payments}
    applications = Counter(row["payment_id"] for row in applied)
    lost, wrong, duplicated = [], [], []
    by_key: dict[str, set[str]] = {}
    for paid in ledger.payments:
        by_key.setdefault(paid["key"], set())
        if paid["status"] != 201:
            continue
        by_key[paid["key"]].add(paid["paymentId"])
        row = stored.get(paid["paymentId"])
        if row is None or row["status"] != "COMPLETED":
            lost.append({**paid, "stored": dict(row) if row else None})
        elif Decimal(paid["amount"]) != row["payment_amount"]:
            wrong.append({**paid, "storedAmount": str(row["payment_amount"])})
        if applications[paid["paymentId"]] != 1:
            lost.append({**paid, "applications": applications[paid["paymentId"]]})
    duplicated += [{"key": k, "paymentIds": sorted(v)} for k, v in by_key.items() if len(v) > 1]
    # Every completed payment of the load's loans is one a client was answered 201 for.
    answered = {p["paymentId"] for p in ledger.payments if p["status"] == 201}
    unknown = [
        {"paymentId": pid, "loanId": row["loan_id"], "status": row["status"]}
        for pid, row in stored.items()
        if row["status"] == "COMPLETED" and pid not in answered
    ]
    # A client that gave up never learnt its payment's fate: such a payment is not a duplicate.
    gave_up_loans = {p["loanId"] for p in ledger.payments if p["status"] is None}
    duplicated += [u for u in unknown if u["loanId"] not in gave_up_loans]
    applied_not_completed = [
        pid
        for pid in applications
        if stored.get(pid) is None or stored[pid]["status"] != "COMPLETED"
    ]
    return {
        "sagas": [dict(row) for row in sagas],
        "paymentsByStatus": {row["status"]: row["n"] for row in statuses},
        "answered201": len(answered),
        "lost": lost,
        "wrongAmount": wrong,
        "duplicated": duplicated,
        "appliedNotCompleted": applied_not_completed,
        "customersWithTwoLoans": [dict(row) for row in loans_per_customer],
    }


def _reconcile(env: dict[str, str]) -> dict[str, Any]:
    checked = reconcile(env)
    return {
        "exitCode": checked.returncode,
        "balanced": checked.returncode == 0,
        "output": (checked.stdout + checked.stderr).strip().splitlines()[-20:],
    }


async def _run(profile: Profile, env: dict[str, str], data_dir: Path, pid: int) -> dict:
    url = f"http://127.0.0.1:{env['ELMS_GATEWAY_PORT']}"
    officer = token(env, "--sub", "chaos", "--role", "LOAN_OFFICER", "--ttl", "7200")
    headers = {"Authorization": f"Bearer {officer}", "Content-Type": "application/json"}
    limits = httpx.Limits(
        max_connections=profile.clients * 2, max_keepalive_connections=profile.clients * 2
    )
    ledger = Ledger()
    injected: list[faults.Injected] = []
    stopping = asyncio.Event()
    async with (
        httpx.AsyncClient(
            base_url=url, headers=headers, limits=limits, timeout=CLIENT_TIMEOUT_SECONDS
        ) as api,
        httpx.AsyncClient(base_url=url, headers=headers) as probe,
    ):
        started = time.monotonic()
        started_at = time.time()
        load = asyncio.create_task(
            _load(api, ledger, profile.clients, secrets.token_hex(3), stopping)
        )
        try:
            await asyncio.sleep(profile.warmup_seconds)
            for fault in profile.schedule:
                injected.append(
                    await faults.inject(fault, pid, data_dir, probe, started, HEAL_BOUND_SECONDS)
                )
                print(f"  {injected[-1].wire()}", file=sys.stderr, flush=True)
                await asyncio.sleep(profile.gap_seconds)
        finally:
            stopping.set()
            await load
        load_seconds = time.monotonic() - started
    admin = admin_url(data_dir)
    drain = await _drain(admin)
    books = await _check_books(admin, ledger)
    return {
        "clients": profile.clients,
        "startedAt": started_at,
        "loadSeconds": round(load_seconds, 1),
        "breakerOpenSeconds": profile.breaker_open_seconds,
        "faults": [i.wire() for i in injected],
        "requests": dict(ledger.requests),
        "requestCount": sum(ledger.requests.values()),
        "answers": dict(sorted(ledger.answers.items())),
        "serverErrors": ledger.server_errors,
        "unanswered": ledger.unanswered,
        "refusals": ledger.refusals[:20],
        "refusalCount": len(ledger.refusals),
        "borrowersFinished": ledger.borrowers_finished,
        "loans": len(ledger.loans),
        "paymentsSent": len(ledger.payments),
        "drain": drain,
        **books,
        "reconcile": _reconcile(env),
    }


def breaker_moves(log_path: Path, started_at: float) -> list[dict[str, Any]]:
    """The gateway's breaker moves from `elms up`'s log, at seconds from the start of the load:
    which fault opened which breaker, and what made a HALF_OPEN probe fail."""
    moves = []
    for line in log_path.read_text(errors="replace").splitlines():
        if '"circuit breaker moved"' not in line:
            continue
        try:
            event = jsoncodec.loads(line)
        except ValueError:
            continue
        at = datetime.fromisoformat(event["timestamp"]).timestamp() - started_at
        moves.append(
            {
                "atSeconds": round(at, 1),
                "breaker": event["breaker"],
                "move": f"{event['before']} -> {event['after']}",
                "cause": event.get("cause"),
            }
        )
    return moves


def violations(result: dict) -> list[str]:
    """Every assertion of the suite the run broke."""
    found = []
    if result["serverErrors"]:
        found.append(f"{len(result['serverErrors'])} answers 500 (or another 5xx)")
    if result["unanswered"]:
        found.append(f"{len(result['unanswered'])} requests without a final answer")
    for fault in result["faults"]:
        if fault["recoverySeconds"] is None:
            found.append(f"{fault['fault']} never healed ({fault['lastFailedProbe']})")
    if not result["drain"]["drained"]:
        found.append(f"sagas or outbox events still running: {result['drain']}")
    for name in ("lost", "wrongAmount", "duplicated", "appliedNotCompleted"):
        if result[name]:
            found.append(f"{len(result[name])} payments {name}")
    if result["customersWithTwoLoans"]:
        found.append(f"customers with two loans: {result['customersWithTwoLoans']}")
    if not result["reconcile"]["balanced"]:
        found.append("elms reconcile: the books do not balance")
    return found


def render(result: dict) -> str:
    lines = [
        f"{result['clients']} clients, {result['loadSeconds']} s of load,"
        f" breaker open {result['breakerOpenSeconds']} s",
        "",
        f"  {'fault':<24} {'at s':>7} {'recovery s':>11} {'failed probes':>14}",
    ]
    for f in result["faults"]:
        recovery = "NEVER" if f["recoverySeconds"] is None else f"{f['recoverySeconds']:.2f}"
        lines.append(
            f"  {f['fault']:<24} {f['atSeconds']:>7} {recovery:>11} {f['failedProbes']:>14}"
        )
    lines += ["", "breaker moves:"]
    lines += [
        f"  {m['atSeconds']:>7} {m['breaker']:<9} {m['move']:<22} {m['cause'] or ''}"
        for m in result.get("breakerMoves", [])
    ]
    lines += ["", f"requests: {result['requestCount']}"]
    lines += [f"  {op:<18} {n:>7}" for op, n in sorted(result["requests"].items())]
    lines += ["answers by status (every attempt):"]
    lines += [f"  {status:<18} {n:>7}" for status, n in result["answers"].items()]
    lines += ["sagas by outcome:"]
    lines += [f"  {s['saga_type']:<20} {s['status']:<14} {s['n']:>6}" for s in result["sagas"]]
    lines += [
        f"payments: {result['paymentsSent']} sent, {result['answered201']} answered 201;"
        f" stored by status {result['paymentsByStatus']}",
        f"  lost {len(result['lost'])}, duplicated {len(result['duplicated'])},"
        f" wrong amount {len(result['wrongAmount'])},"
        f" applied but not completed {len(result['appliedNotCompleted'])}",
        f"borrowers finished: {result['borrowersFinished']}; loans {result['loans']};"
        f" final refusals {result['refusalCount']}",
        f"drained in {result['drain']['seconds']} s: {result['drain']['drained']}",
        "reconcile: the books balance"
        if result["reconcile"]["balanced"]
        else "reconcile: VIOLATIONS\n  " + "\n  ".join(result["reconcile"]["output"]),
    ]
    for error in result["serverErrors"][:10]:
        lines.append(f"  5xx: {jsoncodec.dumps(error)[:400]}")
    broken = result["violations"]
    lines += ["", "PASSED" if not broken else "FAILED:"] + [f"  {v}" for v in broken]
    return "\n".join(lines)


@app.command()
def main(
    profile: Annotated[str, typer.Option(help="short | long")] = "short",
    as_json: Annotated[bool, typer.Option("--json")] = False,
    keep: Annotated[bool, typer.Option(help="keep the data directory and the log")] = False,
) -> None:
    """Run `elms up` under load and faults, then check the books; exit 1 on any violation."""
    if profile not in PROFILES:
        raise typer.BadParameter(f"one of {', '.join(PROFILES)}", param_hint="--profile")
    chosen = PROFILES[profile]
    work = Path(tempfile.mkdtemp(prefix="elms-chaos-"))
    data_dir = work / "data"
    env = environment(
        data_dir, ELMS_BREAKER_OPEN_SECONDS=str(chosen.breaker_open_seconds), **SETTINGS
    )
    log_path = work / "elms-up.log"
    began = time.monotonic()
    with log_path.open("w") as log, elms_up(env, stderr=log) as running:
        result = asyncio.run(_run(chosen, env, data_dir, running.process.pid))
        result["supervisor"] = [
            line.strip() for line in running.printed() if "stopped" in line or "again" in line
        ]
    result["breakerMoves"] = breaker_moves(log_path, result["startedAt"])
    result["profile"] = profile
    result["totalSeconds"] = round(time.monotonic() - began, 1)
    result["violations"] = violations(result)
    if result["violations"] or keep:
        result["kept"] = str(work)
    else:
        shutil.rmtree(work, ignore_errors=True)
    print(jsoncodec.dumps(result) if as_json else render(result))
    if not as_json and "kept" in result:
        print(f"data directory and log kept in {result['kept']}")
    if result["violations"]:
        raise typer.Exit(1)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    app()
