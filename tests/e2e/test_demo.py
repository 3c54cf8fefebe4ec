"""`elms demo` against `elms up` from a clean data directory, as a newcomer runs it: its summary
must be what the database holds, and the books of all four schemas must balance (`elms
reconcile`). Then a test-sized run of the benchmark against the same system."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import asyncpg

from elms.core.config import SERVICES
from tests.support.elms_up import admin_url, books_balance, elms_up, free_port


def test_the_demo_tells_what_the_database_holds(tmp_path: Path):
    data_dir = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ELMS_")}
    # The benchmark below sends more than the default rate limit allows one address.
    env.update(
        ELMS_DATA_DIR=str(data_dir), ELMS_LOG_LEVEL="WARNING", ELMS_RATE_LIMIT="1000000/minute"
    )
    for service in SERVICES:
        env[f"ELMS_{service.upper()}_PORT"] = str(free_port())

    with elms_up(env):
        shown = subprocess.run(
            [sys.executable, "-m", "elms", "demo", "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert shown.returncode == 0, shown.stdout + shown.stderr
        facts = json.loads(shown.stdout.strip().splitlines()[-1], parse_float=Decimal)
        asyncio.run(_matches_the_database(admin_url(data_dir), facts))
        books_balance(env)
        _the_benchmark_runs_without_an_error(env)


def _the_benchmark_runs_without_an_error(env: dict[str, str]) -> None:
    """A test-sized run of `python -m bench`, so its harness never rots (the full run is
    measured by hand: docs/performance.md)."""
    ran = subprocess.run(
        [
            *(sys.executable, "-m", "bench", "--clients", "3", "--seconds", "3"),
            *("--pgbench-seconds", "1", "--pgbench-scale", "1", "--json"),
        ],
        env=env,
        cwd=Path(__file__).parents[2],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    result = json.loads(ran.stdout.strip().splitlines()[-1], parse_float=Decimal)
    assert result["errors"] == 0
    assert result["operations"]["loan_create"]["count"] > 0
    assert result["operations"]["payment"]["count"] > 0
    assert result["pgbench"]["tps"] > 0
    assert sorted(result["memoryMB"]) == sorted(SERVICES)
    assert result["reconcile"]["balanced"] is True


async def _matches_the_database(admin: str, facts: dict) -> None:
    conn = await asyncpg.connect(admin)
    try:
        for c in facts["customers"]:
            row = await conn.fetchrow(
                "SELECT credit_limit, available_credit, used_credit FROM customer_db.customers"
                " WHERE customer_id = $1",
                c["customerId"],
            )
            assert tuple(row) == (c["creditLimit"], c["availableCredit"], c["usedCredit"])
        assert [loan["status"] for loan in facts["loans"]] == ["ACTIVE", "PAID_OFF", "ACTIVE"]
        # Dee's car loan is made under the second product, and her payment three days late
        # falls inside its 5-day grace period: no penalty.
        assert (facts["product"]["productCode"], facts["product"]["penaltyGraceDays"]) == (
            "AUTO36",
            5,
        )
        dee = facts["loans"][2]
        assert (dee["customer"], dee["productCode"]) == ("Dee", "AUTO36")
        assert (
            await conn.fetchval(
                "SELECT product_code || ' v' || product_version || ' ' || installment_count"
                " FROM loan_db.loans WHERE loan_id = $1",
                dee["loanId"],
            )
            == f"AUTO36 v{facts['product']['version']} 36"
        )
        # Bob's loan is paid off in one payment, its payoff quote: later interest waived.
        [payoff] = [p for p in facts["payments"] if p["timing"] == "PAYOFF"]
        assert (payoff["loanId"], payoff["paymentType"]) == (facts["loans"][1]["loanId"], "PAYOFF")
        assert payoff["interestWaived"] > 0
        assert (
            await conn.fetchval(
                "SELECT sum(interest_waived) FROM loan_db.loan_installments WHERE loan_id = $1",
                payoff["loanId"],
            )
            == payoff["interestWaived"]
        )
        [in_grace] = [p for p in facts["payments"] if p["timing"] == "IN_GRACE"]
        assert (in_grace["loanId"], in_grace["penalty"]) == (dee["loanId"], 0)
        for loan in facts["loans"]:
            row = await conn.fetchrow(
                "SELECT status, outstanding_amount, saga_id FROM loan_db.loans WHERE loan_id = $1",
                loan["loanId"],
            )
            assert tuple(row) == (loan["status"], loan["outstandingAmount"], loan["sagaId"])
        assert [p["timing"] for p in facts["payments"][:3]] == ["LATE", "ON_TIME", "EARLY"]
        late, on_time, early = facts["payments"][:3]
        assert late["penalty"] > 0 and late["discount"] == 0
        assert on_time["penalty"] == on_time["discount"] == 0
        assert early["discount"] > 0 and early["penalty"] == 0
        for p in facts["payments"]:
            row = await conn.fetchrow(
                """SELECT p.status, p.payment_amount, p.payment_date::date::text AS day,
                          sum(i.discount_applied) AS discount, sum(i.penalty_paid) AS penalty,
                          p.payment_type
                   FROM payment_db.payments p JOIN payment_db.payment_installments i
                        USING (payment_id)
                   WHERE p.payment_id = $1 GROUP BY p.payment_id""",
                p["paymentId"],
            )
            assert tuple(row) == (
                p["status"],
                p["paymentAmount"],
                p["paymentDate"],
                p["discount"],
                p["penalty"],
                p["paymentType"],
            )
        for s in facts["sagas"]:
            status = await conn.fetchval(
                "SELECT status FROM banking_gateway.saga_states WHERE saga_id = $1", s["sagaId"]
            )
            assert status == s["status"]
        refused = facts["refusedApplication"]
        assert (refused["code"], refused["failedStep"]) == ("INSUFFICIENT_CREDIT", "RESERVE_CREDIT")
        assert (
            await conn.fetchval(
                "SELECT status FROM banking_gateway.saga_states WHERE saga_id = $1",
                refused["sagaId"],
            )
            == "COMPENSATED"
        )
        cy = next(c for c in facts["customers"] if c["name"] == "Cy")
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM loan_db.loans WHERE customer_id = $1", cy["customerId"]
            )
            == 0
        )
    finally:
        await conn.close()
