"""Connection pools and transactions shared by every service.

Pool settings follow database-schema.md (HikariCP's names in brackets): max/min idle per service,
idle timeout 300 s [idle-timeout], lifetime 1800 s [max-lifetime], acquire timeout 20 s
[connection-timeout] and a warning for a connection held past 60 s [leak-detection-threshold].
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import asyncpg
import structlog

from elms.core import jsoncodec
from elms.core.config import ServiceSpec, Settings

log = structlog.get_logger("elms.database")

# The connection of the transaction the current task is in, so that a nested `transaction()`
# (a service function called inside an idempotent request) joins it as a savepoint.
_ambient: ContextVar[asyncpg.Connection | None] = ContextVar("elms_ambient_tx", default=None)


class _TimedConnection(asyncpg.Connection):  # type: ignore[misc]
    """Remembers its birth, so the pool can retire it after the maximum lifetime."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.born_at = time.monotonic()

    def get_reset_query(self) -> str:
        # asyncpg resets a connection on every release (advisory locks, cursors, LISTEN, SET), a
        # round trip per transaction. ELMS keeps no session state on pooled connections: locks
        # are row or transaction locks, settings come with the connection, and the migrator's
        # session advisory lock is on a connection of its own. (An open transaction is still
        # rolled back on release.)
        return ""


@dataclass(frozen=True)
class PoolConfig:
    max_size: int
    min_size: int
    idle_timeout: float
    max_lifetime: float
    acquire_timeout: float
    leak_threshold: float
    statement_timeout: float

    @classmethod
    def for_service(cls, spec: ServiceSpec, settings: Settings) -> PoolConfig:
        return cls(
            max_size=spec.pool_max,
            min_size=spec.pool_min,
            idle_timeout=settings.pool_idle_timeout_seconds,
            max_lifetime=settings.pool_max_lifetime_seconds,
            acquire_timeout=settings.pool_acquire_timeout_seconds,
            leak_threshold=settings.pool_leak_detection_seconds,
            statement_timeout=settings.statement_timeout_seconds,
        )


async def _init_connection(conn: asyncpg.Connection) -> None:
    for name in ("json", "jsonb"):
        await conn.set_type_codec(
            name, encoder=jsoncodec.dumps, decoder=jsoncodec.loads, schema="pg_catalog"
        )


def server_settings(schema: str, application: str, statement_timeout: float) -> dict[str, str]:
    return {
        "search_path": schema,
        "timezone": "UTC",
        "application_name": application,
        "statement_timeout": str(int(statement_timeout * 1000)),
    }


# What a database out of reach raises in the middle of a statement (LOST: the connection closed,
# the server shutting down or starting, no slot free), and when a connection is opened
# (UNREACHABLE: also refused or reset sockets).
LOST = (
    asyncpg.PostgresConnectionError,
    asyncpg.OperatorInterventionError,
    asyncpg.TooManyConnectionsError,
)
UNREACHABLE = (OSError, *LOST)


def _dropped(conn: asyncpg.Connection) -> bool:
    """Whether the driver has lost this pooled connection (closed, or detached from its pool
    proxy, whose every attribute then fails)."""
    try:
        return bool(conn.is_closed())
    except (AttributeError, asyncpg.InterfaceError):  # "released back to the pool"
        return True


class DatabaseUnavailable(Exception):
    """The service's database cannot be reached now; the request may be tried again later."""


# Whatever work using the database may raise while it is out of reach: an outage to wait out,
# logged once as such, not a bug with a traceback.
OUTAGE = (DatabaseUnavailable, *UNREACHABLE)


class Database:
    """A service's pool. `transaction()` is the one way service code writes."""

    def __init__(self, pool: asyncpg.Pool, config: PoolConfig, name: str) -> None:
        self.pool = pool
        self.config = config
        self.name = name
        self.reachable = True

    def lost(self, error: BaseException) -> None:
        """Logged once when the database goes out of reach, not at every request that finds it
        so."""
        if self.reachable:
            self.reachable = False
            log.warning("database out of reach", pool=self.name, error=type(error).__name__)

    def found(self) -> None:
        if not self.reachable:
            self.reachable = True
            log.info("database reachable again", pool=self.name)

    @classmethod
    async def open(cls, dsn: str, schema: str, name: str, config: PoolConfig) -> Database:
        pool = await asyncpg.create_pool(
            dsn,
            min_size=config.min_size,
            max_size=config.max_size,
            max_inactive_connection_lifetime=config.idle_timeout,
            connection_class=_TimedConnection,
            init=_init_connection,
            server_settings=server_settings(schema, f"elms-{name}", config.statement_timeout),
        )
        return cls(pool, config, name)

    async def close(self) -> None:
        await self.pool.close()

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection; inside a transaction of this task, that transaction's one."""
        outer = _ambient.get()
        if outer is not None:
            yield outer
            return
        try:
            conn = await self.pool.acquire(timeout=self.config.acquire_timeout)
        except TimeoutError as error:
            raise PoolExhausted(self.name, self.config.acquire_timeout) from error
        except UNREACHABLE as error:
            # A closed pooled connection is opened anew on acquire; this is that failing.
            self.lost(error)
            raise DatabaseUnavailable(f"{self.name}: {type(error).__name__}") from error
        self.found()
        acquired = time.monotonic()
        born_at = conn.born_at  # read now: a connection the server drops is detached from us
        leak_warning = asyncio.get_running_loop().call_later(
            self.config.leak_threshold, self._warn_leak, acquired
        )
        try:
            yield conn
        except asyncpg.InterfaceError as error:
            # "connection is closed": the server went away while the connection was ours.
            if not _dropped(conn):
                raise
            self.lost(error)
            raise DatabaseUnavailable(f"{self.name}: the connection was lost") from error
        finally:
            leak_warning.cancel()
            if not _dropped(conn) and time.monotonic() - born_at > self.config.max_lifetime:
                # Closing returns the holder to the pool, which opens a fresh connection later.
                await conn.close()
            else:
                # A dropped one goes back too (a no-op once detached): the pool opens a fresh
                # connection in its place.
                await self.pool.release(conn)

    def _warn_leak(self, acquired: float) -> None:
        log.warning(
            "connection held past the leak detection threshold",
            pool=self.name,
            held_seconds=round(time.monotonic() - acquired, 1),
            threshold_seconds=self.config.leak_threshold,
        )

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[asyncpg.Connection]:
        """One transaction; inside another one of this task it becomes a savepoint of it."""
        outer = _ambient.get()
        if outer is not None:
            async with outer.transaction():
                yield outer
            return
        async with self.connection() as conn, conn.transaction():
            token = _ambient.set(conn)
            try:
                yield conn
            finally:
                _ambient.reset(token)

    def stats(self) -> dict[str, int]:
        return {
            "size": self.pool.get_size(),
            "idle": self.pool.get_idle_size(),
            "max": self.pool.get_max_size(),
            "minIdle": self.pool.get_min_size(),
        }


class PoolExhausted(Exception):
    def __init__(self, name: str, timeout: float) -> None:
        super().__init__(f"no connection of pool {name} within {timeout} s")
