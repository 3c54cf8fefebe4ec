"""`elms up` keeps its embedded PostgreSQL running like a service (issue 13 §1, §3): stopped as a
crash would stop it, the server is started again and the services find it by themselves; at the
end the server that runs then is stopped too, not only the one first started."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import asyncpg
import httpx
import psutil

from elms.core.embedded import connections_needed
from tests.support.elms_up import admin_url, elms_up, environment, token


async def _max_connections(data_dir: Path) -> int:
    conn = await asyncpg.connect(admin_url(data_dir))
    try:
        return int(await conn.fetchval("SHOW max_connections"))
    finally:
        await conn.close()


def _postmaster(pgdata: Path) -> psutil.Process:
    return psutil.Process(int((pgdata / "postmaster.pid").read_text().splitlines()[0]))


def _servers_of(pgdata: Path) -> list[psutil.Process]:
    return [
        p
        for p in psutil.process_iter(["name", "cmdline", "status"])
        if p.info["name"] == "postgres"
        and str(pgdata) in " ".join(p.info["cmdline"] or [])
        and p.info["status"] != psutil.STATUS_ZOMBIE
    ]


def test_the_embedded_database_is_restarted_when_it_dies_and_stopped_at_the_end(tmp_path: Path):
    data_dir = tmp_path / "data"
    pgdata = data_dir / "pgdata"
    env = environment(data_dir)
    gateway = f"http://127.0.0.1:{env['ELMS_GATEWAY_PORT']}"
    with elms_up(env) as running:
        auth = {"Authorization": f"Bearer {token(env)}"}
        assert httpx.get(f"{gateway}/api/v1/customers", headers=auth).status_code == 200
        first = _postmaster(pgdata)

        first.send_signal(signal.SIGQUIT)  # what `pg_ctl stop -m immediate` sends
        running.wait_for("postgresql stopped")
        running.wait_for("postgresql running again")

        assert _postmaster(pgdata).pid != first.pid
        again = httpx.get(f"{gateway}/api/v1/customers", headers=auth, timeout=30)
        assert again.status_code == 200, again.text
        # Sized from the pools when it was started.
        assert asyncio.run(_max_connections(data_dir)) >= connections_needed()
    assert running.process.returncode == 0
    assert _servers_of(pgdata) == [], "PostgreSQL left running"
