"""The pool's lifetime, leak detection and nested transactions."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from structlog.testing import capture_logs

from elms.core.config import SERVICES
from elms.core.database import Database, PoolConfig


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
