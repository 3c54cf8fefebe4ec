"""`elms backup` and `elms restore` (api.md §7): one `pg_dump --format=custom` file per schema,
read back all together.

Both connect as the cluster's administrator (the embedded server's, or `ELMS_DATABASE_URL`) and
use the embedded PostgreSQL's own programs, else the system's. A restore replaces the four
schemas in one transaction: the services' books are kept consistent with each other, so they
come back from the same backup or not at all, and never while a service is running.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from elms.core.config import SERVICES
from elms.core.embedded import bin_dir

SCHEMAS = tuple(spec.schema for spec in SERVICES.values())


class BackupFailed(Exception):
    """A backup or restore that did not happen; nothing was changed by a failed restore."""


def program(name: str) -> str:
    """The embedded PostgreSQL's `name` (pg_dump, pg_restore, psql), else the one on PATH."""
    embedded = bin_dir() / name
    if embedded.exists():
        return str(embedded)
    found = shutil.which(name)
    if found is None:
        raise BackupFailed(f"no {name}: neither the embedded PostgreSQL's nor one on PATH")
    return found


def dump_file(directory: Path, schema: str) -> Path:
    return directory / f"{schema}.dump"


def _run(command: list[str], what: str) -> str:
    done = subprocess.run(command, capture_output=True, text=True, errors="replace", check=False)
    if done.returncode != 0:
        raise BackupFailed(f"{what} failed: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


def backup(admin_url: str, directory: Path) -> list[Path]:
    """Write one custom-format dump per schema into `directory` (which must not hold one yet)."""
    directory.mkdir(parents=True, exist_ok=True)
    files = [dump_file(directory, schema) for schema in SCHEMAS]
    present = [str(f) for f in files if f.exists()]
    if present:
        raise BackupFailed(f"a backup is already there: {', '.join(present)}")
    pg_dump = program("pg_dump")
    for schema, target in zip(SCHEMAS, files, strict=True):
        _run(
            [
                pg_dump,
                "--format=custom",
                f"--schema={schema}",
                f"--file={target}",
                f"--dbname={admin_url}",
            ],
            f"pg_dump of {schema}",
        )
    return files


def restore(admin_url: str, directory: Path) -> list[Path]:
    """Replace the four schemas with the dumps in `directory`, in one transaction."""
    files = [dump_file(directory, schema) for schema in SCHEMAS]
    missing = [str(f) for f in files if not f.exists()]
    if missing:
        raise BackupFailed(f"not a whole backup, missing: {', '.join(missing)}")
    pg_restore = program("pg_restore")
    # pg_restore restores one archive per run; as SQL scripts the four run in one psql
    # transaction (-1 wraps every -f), which also carries the data (COPY) and stops at the
    # first error.
    with tempfile.TemporaryDirectory(prefix="elms-restore-") as work:
        scripts = []
        for schema, source in zip(SCHEMAS, files, strict=True):
            script = Path(work) / f"{schema}.sql"
            _run(
                [pg_restore, "--clean", "--if-exists", f"--file={script}", str(source)],
                f"reading the dump of {schema}",
            )
            scripts.append(f"--file={script}")
        _run(
            [
                program("psql"),
                "--no-psqlrc",
                "--quiet",
                "--single-transaction",
                "--set=ON_ERROR_STOP=1",
                f"--dbname={admin_url}",
                *scripts,
            ],
            "the restore",
        )
    return files
