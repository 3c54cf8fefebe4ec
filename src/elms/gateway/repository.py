"""All SQL of the gateway (sessions so far)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from asyncpg import Connection


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
