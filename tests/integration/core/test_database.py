"""The pool's lifetime, leak detection and nested transactions."""

from __future__ import annotations

import asyncio
import dataclasses

import asyncpg
import pytest
from structlog.testing import capture_logs

from elms.core.config import SERVICES
from elms.core.database import Database, DatabaseUnavailable, PoolConfig


@pytest.fixture
async def pool_config(database):
    return PoolConfig.for_service(SERVICES["customer"], database.settings)


async def test_pools_follow_the_spec_sizes_and_timeouts(database):
    config = PoolConfig.for_service(SERVICES["payment"], database.settings)
    assert (config.max_size, config.min_size) == (30, 10)
    assert (config.idle_timeout, config.max_lifetime, config.acquire_timeout) == (300, 1800, 20)
    assert config.leak_threshold == 60


async def test_a_connection_past_its_lifetime_is_replaced_not_reused(database, pool_config):
    config = dataclasses.replace(pool_config, min_size=1, max_size=1, max_lifetime=0)
    db = await Database.open(database.dsn("customer"), "customer_db", "customer", config)
    try:
        async with db.connection() as conn:
            first = await conn.fetchval("SELECT pg_backend_pid()")
        async with db.connection() as conn:
            second = await conn.fetchval("SELECT pg_backend_pid()")
        assert first != second
    finally:
        await db.close()


async def test_a_connection_held_past_the_leak_threshold_is_reported(database, pool_config):
    config = dataclasses.replace(pool_config, min_size=1, max_size=1, leak_threshold=0)
    db = await Database.open(database.dsn("customer"), "customer_db", "customer", config)
    try:
        with capture_logs() as logs:
            async with db.connection():
                # Yield to the loop so the zero-delay leak timer can fire while the
                # connection is still held.
                for _ in range(3):
                    await asyncio.sleep(0)
        assert any(e["event"].startswith("connection held past") for e in logs)
    finally:
        await db.close()


async def test_a_nested_transaction_is_a_savepoint_of_the_outer_one(database, pool_config):
    db = await Database.open(database.dsn("customer"), "customer_db", "customer", pool_config)
    try:
        async with db.transaction() as outer:
            await outer.execute("CREATE TEMP TABLE t (n int)")
            with pytest.raises(RuntimeError):
                async with db.transaction() as inner:
                    assert inner is outer
                    await inner.execute("INSERT INTO t VALUES (1)")
                    raise RuntimeError("roll the savepoint back")
            await outer.execute("INSERT INTO t VALUES (2)")
            assert [r["n"] for r in await outer.fetch("SELECT n FROM t")] == [2]
    finally:
        await db.close()


async def test_a_connection_the_server_drops_mid_use_is_the_database_unavailable(
    database, pool_config
):
    # Found by `python -m bench.chaos`: PostgreSQL stopped at once under load answered 500
    # (the pool's proxy, detached, failed on its lifetime check), where it is a 503.
    config = dataclasses.replace(pool_config, min_size=1, max_size=1)
    db = await Database.open(database.dsn("customer"), "customer_db", "customer", config)
    admin = await asyncpg.connect(database.admin_url)
    try:
        with capture_logs() as logs:
            for dropped_before_the_statement in (True, False):
                with pytest.raises(DatabaseUnavailable):
                    async with db.transaction() as conn:
                        pid = await conn.fetchval("SELECT pg_backend_pid()")
                        ending = asyncio.create_task(
                            admin.execute("SELECT pg_terminate_backend($1)", pid)
                        )
                        if dropped_before_the_statement:
                            await ending  # "connection is closed"
                        await conn.fetchval("SELECT pg_sleep(5)")  # or lost in its middle
                await ending
            # The one pooled connection was given back: the pool opens a fresh one.
            async with db.connection() as conn:
                assert await conn.fetchval("SELECT 1") == 1
            assert db.reachable
        # Once per outage (the fresh connection between the two drops ended the first one).
        events = [e["event"] for e in logs if e["event"].startswith("database")]
        assert events == ["database out of reach"] * 2
    finally:
        await admin.close()
        await db.close()
