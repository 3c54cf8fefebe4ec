"""Roles, schemas and numbered SQL migrations, per service.

Each service's schema gets the core migrations (tables every service has, such as idempotency
records) and then its own, in file-name order. They run under an advisory lock per schema and
are recorded in `<schema>.schema_migrations` with a checksum, so concurrent starts are safe, a
second run is a no-op, and an edited migration that already ran is an error, not a silent drift.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources

import asyncpg
import structlog

from elms.core.cluster import ServiceDatabase, role_password
from elms.core.config import ServiceSpec

log = structlog.get_logger("elms.migrations")

# Role creation touches the whole cluster; one lock for every provisioning run.
_PROVISION_LOCK = 0x454C4D53


@dataclass(frozen=True)
class Migration:
    source: str
    version: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


class MigrationDrift(RuntimeError):
    """A migration that was applied has changed since."""


def migrations_for(service: str) -> list[Migration]:
    """Core and service migrations interleaved by number (core first on a tie), so a core
    migration may build on a table every service's `0001_init.sql` creates."""
    found: list[Migration] = []
    for source in ("core", service):
        folder = resources.files(f"elms.{source}").joinpath("migrations")
        found.extend(
            Migration(source, f.name, f.read_text(encoding="utf-8"))
            for f in folder.iterdir()
            if f.name.endswith(".sql")
        )
    return sorted(found, key=lambda m: (m.version.split("_", 1)[0], m.source != "core"))


async def provision(admin_dsn: str, spec: ServiceSpec, secret: str) -> None:
    """Create the service's login role and its schema, owned by it and closed to everyone else."""
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", _PROVISION_LOCK)
        exists = await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", spec.role)
        verb = "ALTER" if exists else "CREATE"
        statement = await conn.fetchval(
            f"SELECT format('{verb} ROLE %I LOGIN PASSWORD %L', $1::text, $2::text)",
            spec.role,
            role_password(secret, spec.role),
        )
        await conn.execute(statement)
        await conn.execute(
            await conn.fetchval(
                "SELECT format('CREATE SCHEMA IF NOT EXISTS %I AUTHORIZATION %I',"
                " $1::text, $2::text)",
                spec.schema,
                spec.role,
            )
        )
        await conn.execute(
            await conn.fetchval(
                "SELECT format('REVOKE ALL ON SCHEMA %I FROM PUBLIC', $1::text)", spec.schema
            )
        )
        # psql or a pool that forgets to set it still lands in the service's own schema.
        await conn.execute(
            await conn.fetchval(
                "SELECT format('ALTER ROLE %I SET search_path TO %I', $1::text, $2::text)",
                spec.role,
                spec.schema,
            )
        )
    finally:
        await conn.close()


async def migrate(database: ServiceDatabase) -> list[str]:
    """Apply the pending migrations as the service's own role; return the versions applied."""
    spec = database.spec
    conn = await asyncpg.connect(database.dsn, server_settings={"timezone": "UTC"})
    try:
        await conn.execute("SELECT pg_advisory_lock(hashtext('elms-migrate:' || $1))", spec.schema)
        # Only a role given its own URL creates its schema here (it needs CREATE on the
        # database for that); a provisioned role finds it made by the administrator.
        if not await conn.fetchval("SELECT 1 FROM pg_namespace WHERE nspname = $1", spec.schema):
            await conn.execute(
                await conn.fetchval("SELECT format('CREATE SCHEMA %I', $1::text)", spec.schema)
            )
        await conn.execute(
            await conn.fetchval("SELECT format('SET search_path TO %I', $1::text)", spec.schema)
        )
        await conn.execute(
            """
            CREATE TABLE IF NOT EXISTS schema_migrations (
                source VARCHAR(50) NOT NULL,
                version VARCHAR(255) NOT NULL,
                checksum CHAR(64) NOT NULL,
                applied_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
                PRIMARY KEY (source, version)
            )
            """
        )
        applied = {
            (row["source"], row["version"]): row["checksum"]
            for row in await conn.fetch("SELECT source, version, checksum FROM schema_migrations")
        }
        done: list[str] = []
        for migration in migrations_for(spec.name):
            key = (migration.source, migration.version)
            if key in applied:
                if applied[key] != migration.checksum:
                    raise MigrationDrift(f"{spec.schema}: {migration.source}/{migration.version}")
                continue
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (source, version, checksum) VALUES ($1, $2, $3)",
                    migration.source,
                    migration.version,
                    migration.checksum,
                )
            done.append(f"{migration.source}/{migration.version}")
        if done:
            log.info("migrations applied", schema=spec.schema, applied=done)
        return done
    finally:
        await conn.close()


async def prepare(database: ServiceDatabase, secret: str) -> list[str]:
    """Provision (when ELMS holds an administrator URL) and migrate one service's schema."""
    if database.admin_dsn is not None:
        await provision(database.admin_dsn, database.spec, secret)
    return await migrate(database)
