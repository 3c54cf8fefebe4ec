"""`python -m bench`: measure the machine with pgbench, load a running ELMS (`elms up`) through
its gateway, then check the books (`elms reconcile`). Loopback only; bounded in time.

    ELMS_RATE_LIMIT=1000000/minute .venv/bin/elms up     # the rate limit would refuse a load
    .venv/bin/python -m bench --clients 32 --seconds 60

`python -m bench cob` (bench/cob.py) measures close of business on a system of its own.
"""

from __future__ import annotations

import asyncio
import os
import platform
import secrets
import subprocess
import sys
from typing import Annotated, Any

import typer

from bench import cob, load, machine
from bench.stats import summary
from elms.core import cluster, jsoncodec
from elms.core.business_day import today
from elms.core.config import SERVICES, Settings
from elms.reconcile import reconcile

app = typer.Typer(add_completion=False)


def _token() -> str:
    """A loan officer's token, minted as a user mints one."""
    minted = subprocess.run(
        [
            sys.executable,
            "-m",
            "elms",
            "token",
            "--sub",
            "bench",
            "--role",
            "LOAN_OFFICER",
            "--ttl",
            "7200",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return minted.stdout.strip().splitlines()[-1]


async def _measure(clients: int, seconds: float, pgbench_seconds: int, scale: int) -> dict:
    settings = Settings()
    url = settings.service_urls()["gateway"]
    if not url.startswith(("http://127.", "http://localhost")):
        raise typer.BadParameter(f"the benchmark runs on loopback only, not {url}")
    admin = cluster.admin_url(settings, list(SERVICES))
    assert admin is not None, "the benchmark needs the administrator's URL (ELMS_DATABASE_URL)"
    # pgbench first, on a quiet cluster: after the load, the services' pools hold up to 90
    # connections of the embedded server's 100 for five minutes.
    tps = (
        await machine.pgbench_tps(admin, clients, pgbench_seconds, scale) if pgbench_seconds else 0
    )
    timings, elapsed = await load.run(
        url, _token(), clients, seconds, secrets.token_hex(3), today()
    )
    ops = summary(timings, elapsed)
    result: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "clients": clients,
        "seconds": round(elapsed, 1),
        "operations": ops,
        "errors": timings.error_count,
        "errorSamples": {op: reasons[:3] for op, reasons in timings.errors.items()},
        "memoryMB": {
            name: round(rss / 2**20)
            for name, rss in machine.service_memory(
                {name: settings.port_of(name) for name in SERVICES}
            ).items()
        },
    }
    if pgbench_seconds:
        payments = ops.get("payment", {}).get("perSecond", 0.0)
        result["pgbench"] = {"tps": round(tps, 1), "scale": scale, "seconds": pgbench_seconds}
        result["paymentsPerPgbenchTransaction"] = round(payments / tps, 4)
    report = await reconcile(admin)
    result["reconcile"] = report.wire()
    return result


def _render(result: dict) -> str:
    lines = [
        f"{result['clients']} clients for {result['seconds']} s on {result['machine']['cpus']}"
        f" CPUs ({result['machine']['platform']})",
        "",
        f"  {'operation':<18} {'count':>7} {'per s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}",
    ]
    for name, op in result["operations"].items():
        lines.append(
            f"  {name:<18} {op['count']:>7} {op['perSecond']:>8} {op['p50ms']:>8}"
            f" {op['p95ms']:>8} {op['p99ms']:>8}"
        )
    lines += ["", f"errors: {result['errors']}"]
    for op, samples in result["errorSamples"].items():
        lines += [f"  {op}: {sample}" for sample in samples]
    if "pgbench" in result:
        lines.append(
            f"pgbench (TPC-B-like, scale {result['pgbench']['scale']}, same clients):"
            f" {result['pgbench']['tps']} tps; payments per pgbench transaction:"
            f" {result['paymentsPerPgbenchTransaction']}"
        )
    memory = ", ".join(f"{k} {v} MB" for k, v in result["memoryMB"].items())
    lines.append(f"memory (RSS): {memory}")
    balanced = result["reconcile"]["balanced"]
    lines.append("reconcile: the books balance" if balanced else "reconcile: VIOLATIONS")
    lines += [
        f"  [{v['invariant']}] {v['subject']}: {v['detail']}"
        for v in result["reconcile"]["violations"]
    ]
    return "\n".join(lines)


@app.callback(invoke_without_command=True)
def main(
    ctx: typer.Context,
    clients: Annotated[int, typer.Option(min=1, max=512)] = 32,
    seconds: Annotated[float, typer.Option(min=1, max=3600)] = 60,
    pgbench_seconds: Annotated[int, typer.Option(min=0, max=3600, help="0: skip")] = 30,
    pgbench_scale: Annotated[int, typer.Option(min=1, max=1000)] = 10,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Load the running system, measure pgbench beside it, reconcile; exit 1 on any error.
    With a command (cob), that command instead."""
    if ctx.invoked_subcommand is not None:
        return
    result = asyncio.run(_measure(clients, seconds, pgbench_seconds, pgbench_scale))
    print(jsoncodec.dumps(result) if as_json else _render(result))
    if result["errors"] or not result["reconcile"]["balanced"]:
        raise typer.Exit(1)


app.command("cob")(cob.main)

if __name__ == "__main__":
    app()
