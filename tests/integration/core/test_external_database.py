"""ELMS on an external PostgreSQL: one administrator URL for the cluster (ELMS_DATABASE_URL), or
a service's own URL (ELMS_CUSTOMER_DATABASE_URL). CI points these at the machine's PostgreSQL on
127.0.0.1:5432; elsewhere they run when ELMS_EXTERNAL_TEST_DATABASE_URL is set."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from elms.core import cluster
from elms.core.config import Settings
from elms.core.internal_auth import HEADER, service_credential
from elms.core.migrator import prepare
from elms.customer.app import create_app
from tests.support.http import serving
from tests.support.postgres import on_database


@pytest.fixture
async def external_database() -> AsyncIterator[str]:
    admin = os.environ.get("ELMS_EXTERNAL_TEST_DATABASE_URL")
    if not admin:
        if os.environ.get("ELMS_REQUIRE_EXTERNAL_DB"):
            pytest.fail(
                "ELMS_REQUIRE_EXTERNAL_DB is set but ELMS_EXTERNAL_TEST_DATABASE_URL is not"
            )
        pytest.skip("no external PostgreSQL configured (ELMS_EXTERNAL_TEST_DATABASE_URL)")
    name = f"elms_ext_{secrets.token_hex(4)}"
    conn = await asyncpg.connect(admin)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    try:
        yield on_database(admin, name)
    finally:
        conn = await asyncpg.connect(admin)
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()


async def _create_customer_through(settings: Settings, dsn: str) -> dict:
    async with (
        serving(create_app(settings, dsn)) as url,
        httpx.AsyncClient(base_url=url, headers={HEADER: service_credential(settings)}) as client,
    ):
        response = await client.post(
            "/api/v1/customers",
            json={
                "firstName": "Ext",
                "lastName": "Ernal",
                "email": "ext@example.com",
                "creditLimit": "500.25",
            },
        )
    assert response.status_code == 201, response.text
    return response.json()["data"]


async def test_a_service_runs_on_its_own_url_and_role_in_an_external_cluster(
    external_database: str, tmp_path: Path
):
    role = f"elms_ext_role_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(external_database)
    await admin.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'ext-secret'")
    database = external_database.rsplit("/", 1)[1]
    await admin.execute(f'GRANT CREATE ON DATABASE "{database}" TO {role}')
    try:
        own = cluster.with_credentials(external_database, role, "ext-secret")
        settings = Settings(data_dir=tmp_path, customer_database_url=own)
        target = cluster.service_database(settings, "customer", admin=None)
        assert target.admin_dsn is None
        await prepare(target, "unused")
        customer = await _create_customer_through(settings, target.dsn)
        stored = await admin.fetchrow(
            "SELECT c.available_credit, n.nspname, pg_get_userbyid(c2.relowner) AS owner"
            " FROM customer_db.customers c, pg_class c2 JOIN pg_namespace n"
            " ON n.oid = c2.relnamespace WHERE c.customer_id = $1 AND c2.relname = 'customers'",
            customer["customerId"],
        )
        assert str(stored["available_credit"]) == "500.25"
        assert (stored["nspname"], stored["owner"]) == ("customer_db", role)
    finally:
        # DROP OWNED also revokes the role's privileges on the database, so the role can go.
        await admin.execute(f"DROP OWNED BY {role} CASCADE")
        await admin.execute(f"DROP ROLE {role}")
        await admin.close()


async def test_one_administrator_url_provisions_a_role_per_service(
    external_database: str, tmp_path: Path
):
    settings = Settings(data_dir=tmp_path, database_url=external_database, db_role_secret="s3")
    target = cluster.service_database(settings, "customer", settings.database_url)
    await prepare(target, "s3")
    customer = await _create_customer_through(settings, target.dsn)
    conn = await asyncpg.connect(target.dsn)
    try:
        assert await conn.fetchval("SELECT current_user") == "elms_customer"
        assert (
            await conn.fetchval(
                "SELECT email FROM customers WHERE customer_id = $1", customer["customerId"]
            )
            == "ext@example.com"
        )
    finally:
        await conn.close()
