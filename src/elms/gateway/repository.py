"""All SQL of the gateway: sessions and the audit trail."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from asyncpg import Connection, Record

from elms.core import sql


async def insert_session(
    conn: Connection,
    *,
    session_id: str,
    user_id: str,
    customer_id: str | None,
    data: dict[str, Any],
    created_at: datetime,
    expires_at: datetime,
) -> None:
    await conn.execute(
        """INSERT INTO session_data (session_id, user_id, customer_id, session_data, created_at,
               expires_at, last_accessed, is_active)
           VALUES ($1, $2, $3, $4, $5, $6, $5, true)""",
        session_id,
        user_id,
        customer_id,
        data,
        created_at,
        expires_at,
    )


async def session_is_live(conn: Connection, session_id: str, now: datetime) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT true FROM session_data WHERE session_id = $1 AND is_active AND expires_at > $2",
            session_id,
            now,
        )
    )


async def end_session(conn: Connection, session_id: str) -> bool:
    status = await conn.execute(
        "UPDATE session_data SET is_active = false WHERE session_id = $1 AND is_active",
        session_id,
    )
    return status.endswith(" 1")


async def cleanup_expired_sessions(conn: Connection) -> None:
    await conn.execute("SELECT cleanup_expired_sessions()")


_AUDIT_COLUMNS = (
    "event_type",
    "service_name",
    "user_id",
    "customer_id",
    "resource_type",
    "resource_id",
    "action",
    "request_method",
    "request_url",
    "request_ip",
    "user_agent",
    "request_headers",
    "request_body",
    "response_status",
    "response_body",
    "processing_time_ms",
    "success",
    "error_message",
    "created_at",
)


async def insert_audit_events(conn: Connection, rows: list[tuple[Any, ...]]) -> None:
    """Rows in the order of `_AUDIT_COLUMNS`, written in one round trip."""
    await conn.executemany(sql.insert("audit_events", _AUDIT_COLUMNS), rows)


_BREAKER = """breaker_name, state, failure_count, last_failure_time, last_success_time,
    next_attempt_time, state_changed_at, configuration, metrics"""


async def lock_breaker(conn: Connection, name: str) -> Record | None:
    return await conn.fetchrow(
        f"SELECT {_BREAKER} FROM circuit_breaker_states WHERE breaker_name = $1 FOR UPDATE", name
    )


async def save_breaker(
    conn: Connection,
    values: dict[str, Any],
) -> None:
    columns = list(values)
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns if c != "breaker_name")
    await conn.execute(
        sql.insert("circuit_breaker_states", columns)
        + f" ON CONFLICT (breaker_name) DO UPDATE SET {updates}",
        *values.values(),
    )


async def list_breakers(conn: Connection) -> list[Record]:
    return await conn.fetch(f"SELECT {_BREAKER} FROM circuit_breaker_states ORDER BY breaker_name")
