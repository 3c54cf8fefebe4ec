"""The machine's own figures beside ELMS's: pgbench's TPC-B-like transactions per second on the
same PostgreSQL with the same client count, and the memory each service process holds."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import psutil

from elms.core.embedded import bin_dir

BENCH_DATABASE = "elms_pgbench"


def pgbench_binary() -> str:
    """The embedded PostgreSQL's own pgbench, else the system's."""
    embedded = bin_dir() / "pgbench"
    if embedded.exists():
        return str(embedded)
    found = shutil.which("pgbench")
    if found is None:
        raise RuntimeError("no pgbench: neither the embedded PostgreSQL's nor one on PATH")
    return found


def _on_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, parts.fragment))


async def _bench_database(admin_url: str) -> str:
    conn = await asyncpg.connect(admin_url)
    try:
        exists = await conn.fetchval(
            "SELECT true FROM pg_database WHERE datname = $1", BENCH_DATABASE
        )
        if not exists:
            await conn.execute(f'CREATE DATABASE "{BENCH_DATABASE}"')
    finally:
        await conn.close()
    return _on_database(admin_url, BENCH_DATABASE)


async def pgbench_tps(admin_url: str, clients: int, seconds: int, scale: int) -> float:
    """TPC-B-like transactions per second (pgbench's default script) in a database of its own."""
    url = await _bench_database(admin_url)
    binary = pgbench_binary()
    await asyncio.to_thread(
        subprocess.run,
        [binary, "--initialize", "--quiet", f"--scale={scale}", url],
        check=True,
        capture_output=True,
        timeout=600,
    )
    ran = await asyncio.to_thread(
        subprocess.run,
        [
            binary,
            f"--client={clients}",
            f"--jobs={min(clients, os.cpu_count() or 1)}",
            f"--time={seconds}",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 300,
    )
    if ran.returncode != 0:
        raise RuntimeError(f"pgbench failed:\n{ran.stderr.strip()}")
    found = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", ran.stdout)
    if found is None:
        raise RuntimeError(f"pgbench printed no tps:\n{ran.stdout}")
    return float(found.group(1))


def service_memory(ports: dict[str, int]) -> dict[str, int]:
    """Resident memory (bytes) of the process listening on each service's port."""
    listening = {
        c.laddr.port: c.pid
        for c in psutil.net_connections(kind="tcp")
        if c.status == psutil.CONN_LISTEN and c.pid is not None
    }
    return {
        service: psutil.Process(listening[port]).memory_info().rss
        for service, port in ports.items()
        if port in listening
    }
