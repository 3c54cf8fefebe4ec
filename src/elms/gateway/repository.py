"""All SQL of the gateway: sessions, the audit trail, circuit breakers and sagas."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from asyncpg import Connection, Record

from elms.core import sql
from elms.gateway.saga.state import Policy, Reason, SagaState, SagaStatus, StepRecord


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


# --- sagas -----------------------------------------------------------------------------------

_SAGA = """saga_id, saga_type, status, current_step, saga_data, completed_steps, compensation_data,
    start_time, end_time, timeout_at, retry_count, max_retries, error_details, version"""
_RUNNING = "('STARTED', 'IN_PROGRESS', 'COMPENSATING')"
# Heartbeats are written and judged by the database's clock, never a gateway's: replicas whose
# clocks disagree still agree on which saga has gone quiet.
_DB_NOW = "(now() AT TIME ZONE 'UTC')"


def _saga_from_row(row: Record) -> SagaState:
    data = dict(row["saga_data"])
    compensation = row["compensation_data"] or {}
    return SagaState(
        saga_id=row["saga_id"],
        saga_type=row["saga_type"],
        status=SagaStatus(row["status"]),
        current_step=row["current_step"],
        data=data,
        started_at=row["start_time"],
        timeout_at=row["timeout_at"],
        steps=tuple(StepRecord.from_wire(w) for w in row["completed_steps"] or []),
        compensations=tuple(StepRecord.from_wire(w) for w in compensation.get("compensations", [])),
        reason=Reason(compensation["reason"]) if compensation.get("reason") else None,
        error=row["error_details"],
        retry_count=row["retry_count"],
        max_retries=row["max_retries"],
        policy=Policy(data.get("compensationPolicy", Policy.AUTOMATIC)),
        ended_at=row["end_time"],
        version=row["version"],
    )


def _saga_values(state: SagaState) -> tuple[Any, ...]:
    """The mutable columns, in the order of `_SAVED`."""
    return (
        state.status.value,
        state.current_step,
        {**state.data, "compensationPolicy": state.policy.value},
        [r.wire() for r in state.steps],
        {
            "reason": state.reason.value if state.reason else None,
            "compensations": [r.wire() for r in state.compensations],
        },
        state.ended_at,
        state.retry_count,
        state.error,
    )


_SAVED = (
    "status",
    "current_step",
    "saga_data",
    "completed_steps",
    "compensation_data",
    "end_time",
    "retry_count",
    "error_details",
)


async def insert_saga(conn: Connection, state: SagaState) -> None:
    """Its heartbeat and `updated_at` are the columns' defaults: the database's clock (UTC, the
    connection's time zone)."""
    columns = (
        "saga_id",
        "saga_type",
        *_SAVED,
        "start_time",
        "timeout_at",
        "max_retries",
        "version",
        "created_at",
    )
    await conn.execute(
        sql.insert("saga_states", columns),
        state.saga_id,
        state.saga_type,
        *_saga_values(state),
        state.started_at,
        state.timeout_at,
        state.max_retries,
        state.version,
        state.started_at,
    )


async def save_saga(conn: Connection, state: SagaState) -> int | None:
    """Write the state if the row is still at `state.version` (nobody took the saga over since)
    and beat its heart; returns the new version, or None when the saga was taken over."""
    return await conn.fetchval(
        f"UPDATE saga_states SET {sql.assignments(_SAVED, 3)}, last_heartbeat = {_DB_NOW},"
        f" updated_at = {_DB_NOW}, version = version + 1"
        " WHERE saga_id = $1 AND version = $2 RETURNING version",
        state.saga_id,
        state.version,
        *_saga_values(state),
    )


async def beat_saga(conn: Connection, saga_id: str, version: int) -> bool:
    """The heartbeat of a saga this process works on; False once another took it over."""
    status = await conn.execute(
        f"UPDATE saga_states SET last_heartbeat = {_DB_NOW} WHERE saga_id = $1 AND version = $2",
        saga_id,
        version,
    )
    return status.endswith(" 1")


async def get_saga(conn: Connection, saga_id: str) -> SagaState | None:
    row = await conn.fetchrow(f"SELECT {_SAGA} FROM saga_states WHERE saga_id = $1", saga_id)
    return _saga_from_row(row) if row else None


async def lock_saga(conn: Connection, saga_id: str) -> SagaState | None:
    row = await conn.fetchrow(
        f"SELECT {_SAGA} FROM saga_states WHERE saga_id = $1 FOR UPDATE", saga_id
    )
    return _saga_from_row(row) if row else None


async def claim_sagas(
    conn: Connection,
    *,
    stale_seconds: float,
    forward_only_steps: list[str],
    excluded: list[str],
    limit: int,
) -> list[SagaState]:
    """Take over running sagas nobody works on: a heartbeat older than `stale_seconds`, or a
    timeout passed that long ago before the point of no return (their owner should have
    compensated them by then). Rows another gateway is claiming are skipped, so two never take
    one saga; the version bump stops a previous owner that is still alive at its next write."""
    rows = await conn.fetch(
        f"""WITH claimable AS (
               SELECT saga_id FROM saga_states
               WHERE status IN {_RUNNING}
                 AND (last_heartbeat < {_DB_NOW} - make_interval(secs => $1)
                      OR (timeout_at < {_DB_NOW} - make_interval(secs => $1)
                          AND status <> 'COMPENSATING' AND current_step <> ALL($2::text[])))
                 AND saga_id <> ALL($3::text[])
               ORDER BY last_heartbeat LIMIT $4 FOR UPDATE SKIP LOCKED)
           UPDATE saga_states s
           SET last_heartbeat = {_DB_NOW}, updated_at = {_DB_NOW}, version = s.version + 1,
               retry_count = 0
           FROM claimable c WHERE s.saga_id = c.saga_id
           RETURNING {", ".join(f"s.{c.strip()}" for c in _SAGA.split(","))}""",
        stale_seconds,
        forward_only_steps,
        excluded,
        limit,
    )
    return [_saga_from_row(row) for row in rows]


async def list_sagas(
    conn: Connection,
    *,
    status: str | None,
    saga_type: str | None,
    since: datetime | None,
    until: datetime | None,
    started_by_customer: str | None,
    limit: int,
    offset: int,
) -> tuple[list[SagaState], int]:
    args: list[Any] = []
    where = sql.conditions(
        [
            ("status = {}", status),
            ("saga_type = {}", saga_type),
            ("created_at >= {}", since),
            ("created_at < {}", until),
            ("saga_data #>> '{{startedBy,customerId}}' = {}", started_by_customer),
        ],
        args,
    )
    rows, total = await sql.fetch_page(
        conn,
        source="saga_states",
        columns=_SAGA,
        where=where,
        args=args,
        order_by="created_at DESC, saga_id",
        limit=limit,
        offset=offset,
    )
    return [_saga_from_row(row) for row in rows], total


async def saga_counts(conn: Connection, stale_seconds: float) -> tuple[dict[str, int], int]:
    """Sagas by status, and how many running ones nobody has beaten the heart of lately."""
    rows = await conn.fetch("SELECT status, count(*) AS n FROM saga_states GROUP BY status")
    stuck = await conn.fetchval(
        f"SELECT count(*) FROM saga_states WHERE status IN {_RUNNING}"
        f" AND last_heartbeat < {_DB_NOW} - make_interval(secs => $1)",
        stale_seconds,
    )
    return {row["status"]: row["n"] for row in rows}, stuck
