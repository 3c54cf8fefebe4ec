"""A gateway killed with SIGKILL in the middle of loan-creation and payment sagas (issue 6).

The gateway runs as its own process; the services run in the test. Each saga is held at a chosen
step by a row lock the test takes in a service's database, so the kill lands while the steps are
in flight: credit reservations (and one that the loan service will refuse), payments at their
pivot (two of them racing for one installment), and a payment past its pivot. The locks are
released with the gateway dead, so the services finish the calls nobody will hear the answer to;
a new gateway process then takes the sagas over. Every saga must end COMPLETED or COMPENSATED,
and the books of all four services must balance."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import asyncpg
import httpx

from elms.reconcile import reconcile, render
from tests.conftest import bearer
from tests.integration.loan.conftest import loan_request, relay
from tests.integration.saga.helpers import (
    active_loan,
    customer,
    customer_lock,
    first_installment_due,
    loan_lock,
    pay,
)
from tests.support.waiting import until


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _environment(system: Any, database: Any, port: int) -> dict[str, str]:
    settings = system.settings
    env = {k: v for k, v in os.environ.items() if not k.startswith("ELMS_")}
    env.update(
        ELMS_DATA_DIR=str(settings.data_dir),
        ELMS_DB_ROLE_SECRET=str(settings.db_role_secret),
        ELMS_GATEWAY_DATABASE_URL=database.dsn("gateway"),
        ELMS_CUSTOMER_URL=system.customer.url,
        ELMS_LOAN_URL=system.loan.url,
        ELMS_PAYMENT_URL=system.payment.url,
        ELMS_GATEWAY_PORT=str(port),
        # A dead gateway's sagas are found within seconds rather than the default half minute.
        ELMS_SAGA_HEARTBEAT_SECONDS="0.5",
        ELMS_SAGA_STALE_AFTER_SECONDS="2",
        ELMS_SAGA_RECOVERY_INTERVAL_SECONDS="0.5",
        ELMS_LOG_LEVEL="WARNING",
        ELMS_LOG_JSON="false",
    )
    return env


@asynccontextmanager
async def gateway_process(env: dict[str, str], log: Path) -> AsyncIterator[Any]:
    """`elms serve gateway` in a process of its own, ready to serve; killed at the end if the
    test has not killed it."""
    url = f"http://127.0.0.1:{env['ELMS_GATEWAY_PORT']}"
    with log.open("ab") as output:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "elms", "serve", "gateway", env=env, stdout=output, stderr=output
        )
    try:
        async with httpx.AsyncClient(base_url=url, timeout=30) as probe:

            async def ready() -> bool:
                if process.returncode is not None:
                    raise AssertionError(f"gateway exited with {process.returncode}")
                try:
                    return (await probe.get("/actuator/health")).status_code == 200
                except httpx.TransportError:
                    return False

            await until(ready, "the gateway to start", 120)
        yield process
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()


async def running_sagas(gateway_db: asyncpg.Pool, step: str | None = None) -> list[Any]:
    return await gateway_db.fetch(
        "SELECT saga_id, saga_type, current_step FROM saga_states"
        " WHERE status IN ('STARTED', 'IN_PROGRESS', 'COMPENSATING')"
        " AND ($1::text IS NULL OR current_step = $1)",
        step,
    )


async def test_sagas_cut_off_by_a_killed_gateway_end_whole_under_a_new_one(
    system, database, tmp_path
):
    port = _free_port()
    env = _environment(system, database, port)
    log = tmp_path / "gateway.log"
    gateway_db = await asyncpg.create_pool(database.dsn("gateway"), min_size=1, max_size=2)
    headers = {"Authorization": bearer(system.settings)}
    client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30, headers=headers)
    front = SimpleNamespace(client=client)
    try:
        async with gateway_process(env, log) as first:
            # The books before the crash: loans to pay, and an application id already taken.
            loans = [await active_loan(system, front, f"crash-pay{i}") for i in range(3)]
            taken = await customer(system, "crash-taken")
            made = await client.post(
                "/api/v1/loans", json=loan_request(taken["customerId"], applicationId="APP-CRASH")
            )
            assert made.status_code == 201, made.text
            applicants = [await customer(system, f"crash-apply{i}") for i in range(4)]
            racing, alone, restoring = loans

            in_flight: list[asyncio.Task[httpx.Response]] = []
            async with AsyncExitStack() as locks:
                for person in applicants:
                    await locks.enter_async_context(customer_lock(system, person["customerId"]))
                for index, person in enumerate(applicants):
                    request = loan_request(person["customerId"], loanAmount="5000.00")
                    if index == 0:
                        request["applicationId"] = "APP-CRASH"  # refused at CREATE_LOAN
                    started = await client.post("/api/v1/saga/loan-creation", json=request)
                    assert started.status_code == 202, started.text
                for loan in (racing, alone):
                    await locks.enter_async_context(loan_lock(system, loan["loanId"]))
                await locks.enter_async_context(customer_lock(system, restoring["customerId"]))
                for loan, times in ((racing, 2), (alone, 1), (restoring, 1)):
                    amount = await first_installment_due(front, loan["loanId"])
                    in_flight += [
                        asyncio.create_task(pay(front, loan["loanId"], amount))
                        for _ in range(times)
                    ]

                async def everything_in_flight() -> bool:
                    at = [r["current_step"] for r in await running_sagas(gateway_db)]
                    return sorted(at) == sorted(
                        ["RESERVE_CREDIT"] * 4 + ["APPLY_TO_LOAN"] * 3 + ["RESTORE_CREDIT"]
                    )

                await until(everything_in_flight, "every saga to wait at its step")
                first.send_signal(signal.SIGKILL)
                await first.wait()
            # The locks are gone: the services finish what the dead gateway asked of them.
            answers = await asyncio.gather(*in_flight, return_exceptions=True)
            assert all(isinstance(a, httpx.TransportError) for a in answers), answers
        cut_off = {r["saga_id"] for r in await running_sagas(gateway_db)}
        assert len(cut_off) == 8

        async with gateway_process(env, log):

            async def all_ended() -> bool:
                return not await running_sagas(gateway_db)

            await until(all_ended, "the new gateway to finish every saga", 120)

        ended = await gateway_db.fetch(
            "SELECT saga_id, saga_type, status, completed_steps FROM saga_states"
            " WHERE saga_id = ANY($1::text[])",
            list(cut_off),
        )
        # Each step the dead gateway had in flight ran again under its key, and replayed.
        for row in ended:
            cut = next(s for s in json.loads(row["completed_steps"]) if s["attempts"] > 1)
            assert cut["attempts"] == 2, row
        outcome = sorted((r["saga_type"], r["status"]) for r in ended)
        assert outcome == sorted(
            [("LOAN_CREATION", "COMPLETED")] * 3
            + [("LOAN_CREATION", "COMPENSATED")]
            + [("PAYMENT_PROCESSING", "COMPLETED")] * 3
            + [("PAYMENT_PROCESSING", "COMPENSATED")]
        ), log.read_text()[-5000:]
        while await relay(system):
            pass
        report = await reconcile(database.admin_url)
        assert report.balanced, render(report)
        # The loser of the race was refused by the loan service after the crash and failed.
        refused = await system.payment.app.state.db.pool.fetch(
            "SELECT status, failure_reason FROM payments WHERE loan_id = $1 ORDER BY created_at",
            racing["loanId"],
        )
        assert sorted(r["status"] for r in refused) == ["COMPLETED", "FAILED"]
    finally:
        await client.aclose()
        await gateway_db.close()
