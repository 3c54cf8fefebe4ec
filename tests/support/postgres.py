"""A real PostgreSQL for the tests: the embedded one, or ELMS_TEST_DATABASE_URL (an administrator
URL of an external cluster). Schemas are migrated once into a template database; each test that
needs a database gets a clone of it (`CREATE DATABASE … TEMPLATE`), which takes a fraction of a
second and isolates pools, races and workers between tests."""

from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from elms.core import cluster
from elms.core.config import SERVICES, Settings
from elms.core.embedded import start_embedded
from elms.core.migrator import prepare

ROLE_SECRET = "elms-test-role-secret"


def admin_url_for_tests() -> str:
    configured = os.environ.get("ELMS_TEST_DATABASE_URL")
    if configured:
        return configured
    data_dir = Path(tempfile.mkdtemp(prefix="elms-test-pg-"))
    return start_embedded(data_dir, delete_on_exit=True)


def on_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, parts.fragment))


def settings_for(admin_url: str, data_dir: Path) -> Settings:
    return Settings(
        data_dir=data_dir,
        database_url=admin_url,
        db_role_secret=ROLE_SECRET,
        log_json=False,
        # Tests drive the workers' jobs themselves, never by waiting for a timer.
        reservation_expiry_interval_seconds=3600,
        cob_interval_seconds=3600,
        # The outbox relay is driven by the tests too (elms.core.outbox.relay), never
        # woken by a commit.
        outbox_interval_seconds=3600,
        outbox_listen=False,
        # So is saga recovery (SagaEngine.recover_once); retries back off briefly.
        saga_recovery_interval_seconds=3600,
        saga_retry_backoff_seconds=0.01,
    )


async def create_template(admin_url: str, data_dir: Path) -> str:
    name = f"elms_tpl_{secrets.token_hex(4)}"
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    settings = settings_for(on_database(admin_url, name), data_dir)
    for service in SERVICES:
        database = cluster.service_database(settings, service, settings.database_url)
        await prepare(database, ROLE_SECRET)
    return name


async def clone(admin_url: str, template: str) -> str:
    name = f"elms_t_{secrets.token_hex(6)}"
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    finally:
        await conn.close()
    return name


async def drop(admin_url: str, name: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def service_dsn(settings: Settings, service: str) -> str:
    """A service's own URL (its role) on the settings' database."""
    return cluster.service_database(settings, service, settings.database_url).dsn
