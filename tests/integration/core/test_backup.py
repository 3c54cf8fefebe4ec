"""`elms backup`, `elms restore` and `elms db-stats` (api.md §7), run as an operator runs them,
against a test's database: the four schemas come back from one backup together, or not at all,
and the loans' documents with them."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import asyncpg

from elms.backup import SCHEMAS
from tests.integration.loan.conftest import new_customer, relay
from tests.integration.loan.helpers import approved_loan
from tests.support.cli import run_elms

PAYSLIP = Path(__file__).parents[3] / "docs" / "examples" / "payslip.pdf"


def _env(system: Any, database: Any, tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "ELMS_DATABASE_URL": database.admin_url,
        "ELMS_DATA_DIR": str(tmp_path / "data"),
        # Where `elms restore` looks for running services: this test's own.
        **{f"ELMS_{name.upper()}_URL": service.url for name, service in system.services.items()},
    }


async def _rows(admin_url: str) -> dict[str, int]:
    """Every table of the four schemas, with its row count."""
    conn = await asyncpg.connect(admin_url)
    try:
        tables = await conn.fetch(
            "SELECT schemaname, tablename FROM pg_tables WHERE schemaname = ANY($1::text[])",
            list(SCHEMAS),
        )
        return {
            f"{t['schemaname']}.{t['tablename']}": await conn.fetchval(
                f'SELECT count(*) FROM "{t["schemaname"]}"."{t["tablename"]}"'
            )
            for t in tables
        }
    finally:
        await conn.close()


async def _admin(admin_url: str, statement: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def test_a_backup_brings_back_all_four_schemas_and_the_services_run_on_it(
    system, database, tmp_path
):
    env = _env(system, database, tmp_path)
    loan = await approved_loan(system, "backed-up")
    assert await relay(system) == 1
    at_backup = await _rows(database.admin_url)

    code, out = await run_elms(env, "backup", "--to", str(tmp_path / "b"))
    assert code == 0, out
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == sorted(
        [*(f"{s}.dump" for s in SCHEMAS), "documents"]
    )
    later = await new_customer(system.customer.client, tag="after-the-backup")
    code, out = await run_elms(env, "restore", str(tmp_path / "b"))
    assert code == 1 and "Stop ELMS first" in out, out
    refused = await _rows(database.admin_url)
    assert refused["customer_db.customers"] == at_backup["customer_db.customers"] + 1

    for name in list(system.stacks):
        await system.stop(name)
    code, out = await run_elms(env, "restore", str(tmp_path / "b"))
    assert code == 0, out

    assert await _rows(database.admin_url) == at_backup
    for name in ("customer", "loan", "payment"):
        await system.start(name)
    gone = await system.customer.client.get(f"/api/v1/customers/{later['customerId']}")
    assert gone.status_code == 404
    back = await system.loan.client.get(f"/api/v1/loans/{loan['loanId']}")
    assert back.status_code == 200, back.text


async def test_a_restore_that_fails_part_way_changes_nothing(system, database, tmp_path):
    env = _env(system, database, tmp_path)
    code, out = await run_elms(env, "backup", "--to", str(tmp_path / "b"))
    assert code == 0, out
    later = await new_customer(system.customer.client, tag="kept")
    # An object outside ELMS that depends on a table of the last schema restored: dropping that
    # table fails, after the first schemas' statements have run.
    conn = await asyncpg.connect(database.admin_url)
    try:
        table = await conn.fetchval(
            "SELECT tablename FROM pg_tables WHERE schemaname = $1 LIMIT 1", SCHEMAS[-1]
        )
    finally:
        await conn.close()
    await _admin(
        database.admin_url,
        f'CREATE VIEW public.blocker AS SELECT 1 AS one FROM "{SCHEMAS[-1]}".{table}',
    )
    before = await _rows(database.admin_url)
    for name in list(system.stacks):
        await system.stop(name)

    code, out = await run_elms(env, "restore", str(tmp_path / "b"))

    assert code == 1 and "nothing was changed" in out, out
    assert await _rows(database.admin_url) == before
    await _admin(database.admin_url, "DROP VIEW public.blocker")
    await system.start("customer")
    kept = await system.customer.client.get(f"/api/v1/customers/{later['customerId']}")
    assert kept.status_code == 200


async def test_an_incomplete_backup_is_refused(system, database, tmp_path):
    env = _env(system, database, tmp_path)
    code, out = await run_elms(env, "backup", "--to", str(tmp_path / "b"))
    assert code == 0, out
    (tmp_path / "b" / f"{SCHEMAS[1]}.dump").unlink()
    for name in list(system.stacks):
        await system.stop(name)

    code, out = await run_elms(env, "restore", str(tmp_path / "b"))

    assert code == 1 and f"{SCHEMAS[1]}.dump" in out, out
    code, out = await run_elms(env, "backup", "--to", str(tmp_path / "b"))
    assert code == 1 and "already there" in out, out


async def test_db_stats_lists_every_table_of_the_four_schemas(system, database, tmp_path):
    env = _env(system, database, tmp_path)

    code, out = await run_elms(env, "db-stats", "--json")

    assert code == 0, out
    rows = json.loads(out.strip().splitlines()[-1])
    listed = {f"{r['schemaname']}.{r['tablename']}" for r in rows}
    assert listed == set(await _rows(database.admin_url))
    # Activity counters are PostgreSQL's cumulative statistics, flushed on their own schedule:
    # their presence is checked, not their values.
    customers = next(r for r in rows if r["tablename"] == "customers")
    assert customers["schemaname"] == "customer_db"
    assert customers["size"].endswith(("bytes", "kB", "MB"))
    assert all(isinstance(customers[c], int) for c in ("tuples_inserted", "tuples_updated"))
    code, text = await run_elms(env, "db-stats")
    assert code == 0 and text.splitlines()[0].split()[:3] == ["schemaname", "tablename", "size"]
    assert len(text.splitlines()) == len(rows) + 1


async def test_a_backup_brings_back_the_loans_documents_byte_for_byte(system, database, tmp_path):
    env = {**_env(system, database, tmp_path), "ELMS_DATA_DIR": str(system.settings.data_dir)}
    loan = await approved_loan(system, "documented")
    assert await relay(system) == 1
    document_url = f"/api/v1/loans/{loan['loanId']}/documents"
    payslip = PAYSLIP.read_bytes()
    uploaded = await system.loan.client.post(
        document_url,
        data={"documentType": "INCOME_PROOF"},
        files={"file": ("payslip.pdf", payslip, "application/pdf")},
    )
    assert uploaded.status_code == 201, uploaded.text
    content_url = f"{document_url}/{uploaded.json()['data']['documentId']}/content"

    code, out = await run_elms(env, "backup", "--to", str(tmp_path / "b"))
    assert code == 0, out
    assert "documents" in out
    for name in list(system.stacks):
        await system.stop(name)
    shutil.rmtree(system.settings.data_dir / "documents")
    code, out = await run_elms(env, "restore", str(tmp_path / "b"))
    assert code == 0, out

    for name in ("customer", "loan", "payment"):
        await system.start(name)
    downloaded = await system.loan.client.get(content_url)
    assert downloaded.status_code == 200, downloaded.text
    assert downloaded.content == payslip
