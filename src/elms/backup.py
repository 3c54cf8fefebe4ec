"""`elms backup` and `elms restore` (api.md §7): one `pg_dump --format=custom` file per schema,
and the loans' uploaded documents, read back all together.

Both connect as the cluster's administrator (the embedded server's, or `ELMS_DATABASE_URL`) and
use the embedded PostgreSQL's own programs, else the system's. A restore replaces the four
schemas in one transaction: the services' books are kept consistent with each other, so they
come back from the same backup or not at all, and never while a service is running. The
documents (`<data dir>/documents`, the files `loan_documents` rows name) are put in place only
once the schemas are back.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from elms.core.config import SERVICES
from elms.core.embedded import bin_dir

SCHEMAS = tuple(spec.schema for spec in SERVICES.values())
# Where the loan service keeps uploaded files, under the data directory (elms.loan.
# document_service), and where a backup keeps its copy of them.
DOCUMENTS = "documents"


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


def backup(admin_url: str, directory: Path, data_dir: Path) -> list[Path]:
    """Write one custom-format dump per schema into `directory` (which must not hold one yet),
    then a copy of the documents under `data_dir`."""
    directory.mkdir(parents=True, exist_ok=True)
    files = [dump_file(directory, schema) for schema in SCHEMAS]
    present = [str(f) for f in (*files, directory / DOCUMENTS) if f.exists()]
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
    # After the dumps: every document a dumped row names is already on disk. A file uploaded
    # meanwhile is copied too and named by no row, which is harmless.
    return [*files, _copy_documents(data_dir / DOCUMENTS, directory / DOCUMENTS)]


def _copy_documents(source: Path, target: Path) -> Path:
    """The documents, uploads still being written left out; an empty folder when there are
    none, so that a restore knows the backup holds every document there was."""
    try:
        if source.exists():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns(".upload-*"))
        else:
            target.mkdir()
    except OSError as error:
        raise BackupFailed(f"copying the documents failed: {error}") from error
    return target


def restore(admin_url: str, directory: Path, data_dir: Path) -> list[Path]:
    """Replace the four schemas with the dumps in `directory`, in one transaction, then the
    documents under `data_dir` with the backup's. A backup made before backups held documents
    leaves the documents as they are."""
    files = [dump_file(directory, schema) for schema in SCHEMAS]
    missing = [str(f) for f in files if not f.exists()]
    if missing:
        raise BackupFailed(f"not a whole backup, missing: {', '.join(missing)}")
    saved = directory / DOCUMENTS
    if not saved.is_dir():
        _restore_schemas(admin_url, files)
        return files
    # Copied beside the live folder first: a failed copy changes nothing, and the swap after
    # the schemas are back is two renames on one file system.
    staged = data_dir / f".{DOCUMENTS}-restoring"
    shutil.rmtree(staged, ignore_errors=True)
    try:
        shutil.copytree(saved, staged)
    except OSError as error:
        shutil.rmtree(staged, ignore_errors=True)
        raise BackupFailed(f"copying the documents failed: {error}") from error
    try:
        _restore_schemas(admin_url, files)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    _swap_in(staged, data_dir / DOCUMENTS)
    return [*files, saved]


def _swap_in(staged: Path, live: Path) -> None:
    replaced = live.with_name(f".{live.name}-replaced")
    shutil.rmtree(replaced, ignore_errors=True)
    if live.exists():
        live.rename(replaced)
    staged.rename(live)
    shutil.rmtree(replaced, ignore_errors=True)


def _restore_schemas(admin_url: str, files: list[Path]) -> None:
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
