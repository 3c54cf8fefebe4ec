"""The transactional outbox (architecture.md §4), shared by every service.

A state change that another service must learn of writes its event into the service's own
`data_sync_events` in the same transaction (`enqueue`). The relay (`relay`, run as a
background job) delivers pending events, marks them PROCESSED, retries failures with exponential
backoff up to `max_retries`, then marks them FAILED. Rows are claimed with
`FOR UPDATE SKIP LOCKED`, so any number of relays can run at once without delivering one event
concurrently. Delivery is at least once: consumers drop repeats by `(source, event id)` through
`first_delivery`, in the transaction that applies the event.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import structlog
from asyncpg import Connection

from elms.core import sql
from elms.core.clock import utcnow
from elms.core.database import Database
from elms.core.errors import conflict, not_found
from elms.core.service_client import ServiceClient, ServiceUnavailable

log = structlog.get_logger("elms.outbox")

EVENTS_PATH = "/internal/v1/events"
MAX_BACKOFF = timedelta(minutes=5)


@dataclass(frozen=True)
class OutboxEvent:
    event_id: int
    event_type: str
    source_service: str
    target_service: str
    entity_type: str
    entity_id: str
    event_data: dict[str, Any]
    retry_count: int
    max_retries: int

    def wire(self) -> dict[str, Any]:
        return {
            "eventId": self.event_id,
            "eventType": self.event_type,
            "sourceService": self.source_service,
            "entityType": self.entity_type,
            "entityId": self.entity_id,
            "data": self.event_data,
        }


class DeliveryRefused(Exception):
    """The target answered, but not with success."""


async def enqueue(
    conn: Connection,
    *,
    event_type: str,
    source: str,
    target: str,
    entity_type: str,
    entity_id: str,
    data: dict[str, Any],
    now: datetime,
) -> int:
    """Record an event in the caller's transaction; it is delivered only if that commits. The
    notification that wakes the relays goes out with the commit too (PostgreSQL holds NOTIFY
    until then), so no relay looks for an event that is not there yet."""
    return await conn.fetchval(
        """WITH event AS (
               INSERT INTO data_sync_events (event_type, source_service, target_service,
                   entity_type, entity_id, event_data, created_at, next_attempt_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING event_id)
           SELECT event_id FROM event, pg_notify('elms_outbox_' || current_schema(), '')""",
        event_type,
        source,
        target,
        entity_type,
        entity_id,
        data,
        now,
    )


def backoff(retry_count: int, base_seconds: float) -> timedelta:
    return min(timedelta(seconds=base_seconds * 2**retry_count), MAX_BACKOFF)


def channel(schema: str) -> str:
    """The notification channel of a schema's outbox."""
    return f"elms_outbox_{schema}"


@asynccontextmanager
async def listening(dsn: str, schema: str, wake: asyncio.Event) -> AsyncIterator[None]:
    """Set `wake` whenever a transaction of this schema commits an event, on a connection of its
    own (LISTEN holds a session, which pooled connections never do). If it cannot listen, the
    relay still runs on its interval."""
    try:
        conn = await asyncpg.connect(dsn)
        await conn.add_listener(channel(schema), lambda *_: wake.set())
    except (OSError, asyncpg.PostgresError) as error:
        log.warning("outbox relay cannot listen; it polls instead", error=str(error))
        yield
        return
    try:
        yield
    finally:
        await conn.close()


async def relay(
    db: Database,
    deliver: Callable[[OutboxEvent], Awaitable[None]],
    now: datetime,
    *,
    batch: int = 20,
    backoff_seconds: float = 1.0,
) -> int:
    """Deliver every event due at `now`, a batch at a time, until a batch comes back short;
    returns how many were delivered. (One batch a round would cap a service at one batch per
    relay interval.)"""
    delivered = 0
    while True:
        claimed, round_delivered = await _relay_round(db, deliver, now, batch, backoff_seconds)
        delivered += round_delivered
        if claimed < batch:
            return delivered


async def _relay_round(
    db: Database,
    deliver: Callable[[OutboxEvent], Awaitable[None]],
    now: datetime,
    batch: int,
    backoff_seconds: float,
) -> tuple[int, int]:
    """One batch: how many events were claimed, and how many of them delivered."""
    delivered = 0
    async with db.transaction() as conn:
        rows = await conn.fetch(
            """SELECT event_id, event_type, source_service, target_service, entity_type,
                      entity_id, event_data, retry_count, max_retries
               FROM data_sync_events e
               WHERE status = 'PENDING' AND next_attempt_at <= $1
                 -- One entity's events arrive in the order they happened: an event waits
                 -- while an older one of the same entity is still being retried. (A FAILED
                 -- one does not hold the rest back; consumers check what it would have done.)
                 AND NOT EXISTS (
                     SELECT 1 FROM data_sync_events older
                     WHERE older.entity_type = e.entity_type AND older.entity_id = e.entity_id
                       AND older.event_id < e.event_id AND older.status = 'PENDING')
               ORDER BY event_id LIMIT $2 FOR UPDATE SKIP LOCKED""",
            now,
            batch,
        )
        for event in (OutboxEvent(**row) for row in rows):
            try:
                await deliver(event)
            except (DeliveryRefused, ServiceUnavailable) as error:
                await _failed(conn, event, str(error), now, backoff_seconds)
                continue
            except Exception as error:
                # Whatever went wrong with this event, the others are still delivered.
                log.exception("outbox delivery broke", event_id=event.event_id)
                await _failed(conn, event, f"{type(error).__name__}: {error}", now, backoff_seconds)
                continue
            await conn.execute(
                "UPDATE data_sync_events SET status = 'PROCESSED', processed_at = $2,"
                " error_message = NULL WHERE event_id = $1",
                event.event_id,
                now,
            )
            delivered += 1
    return len(rows), delivered


async def _failed(
    conn: Connection, event: OutboxEvent, error: str, now: datetime, backoff_seconds: float
) -> None:
    retries = event.retry_count + 1
    status = "FAILED" if retries >= event.max_retries else "PENDING"
    log.warning(
        "outbox delivery failed",
        event_id=event.event_id,
        event_type=event.event_type,
        target=event.target_service,
        retry=retries,
        status=status,
        error=error,
    )
    await conn.execute(
        """UPDATE data_sync_events
           SET retry_count = $2, status = $3, error_message = $4, next_attempt_at = $5
           WHERE event_id = $1""",
        event.event_id,
        retries,
        status,
        error[:1000],
        now + backoff(retries, backoff_seconds),
    )


def http_delivery(client: ServiceClient) -> Callable[[OutboxEvent], Awaitable[None]]:
    """Deliver by POSTing the event to the target service's events endpoint."""

    async def deliver(event: OutboxEvent) -> None:
        response = await client.call(event.target_service, "POST", EVENTS_PATH, event.wire())
        if not response.ok:
            raise DeliveryRefused(f"HTTP {response.status} {response.error.get('code')}")

    return deliver


async def first_delivery(conn: Connection, source: str, event_id: int, event_type: str) -> bool:
    """True the first time this service sees the event; False for every repeat. Call it in the
    transaction that applies the event, so the record and the effect commit together."""
    inserted = await conn.fetchval(
        """INSERT INTO processed_events (source_service, event_id, event_type, processed_at)
           VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING true""",
        source,
        event_id,
        event_type,
        utcnow(),
    )
    return bool(inserted)


async def counts(db: Database) -> dict[str, int]:
    async with db.connection() as conn:
        rows = await conn.fetch(
            "SELECT status, count(*) AS n FROM data_sync_events GROUP BY status"
        )
    return {row["status"]: row["n"] for row in rows}


# --- for operators: events that failed for good -------------------------------------------------

_FAILED_VIEW = """event_id, event_type, source_service, target_service, entity_type, entity_id,
    retry_count, max_retries, error_message, created_at"""


def _operator_view(row: Any) -> dict[str, Any]:
    return {
        "eventId": row["event_id"],
        "eventType": row["event_type"],
        "sourceService": row["source_service"],
        "targetService": row["target_service"],
        "entityType": row["entity_type"],
        "entityId": row["entity_id"],
        "retryCount": row["retry_count"],
        "maxRetries": row["max_retries"],
        "errorMessage": row["error_message"],
        "createdAt": row["created_at"],
    }


async def failed_events(db: Database, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
    """FAILED events, newest first, and how many there are."""
    async with db.connection() as conn:
        rows, total = await sql.fetch_page(
            conn,
            source="data_sync_events",
            columns=_FAILED_VIEW,
            where=["status = 'FAILED'"],
            args=[],
            order_by="event_id DESC",
            limit=limit,
            offset=offset,
        )
    return [_operator_view(r) for r in rows], total


async def retry_failed(db: Database, event_id: int, now: datetime) -> dict[str, Any]:
    """Put a FAILED event back in the queue with its retries renewed (an operator fixed what
    made it fail); the relays are woken at commit. Delivering it again is safe: consumers
    apply an event once (`first_delivery`)."""
    async with db.transaction() as conn:
        status = await conn.fetchval(
            "SELECT status FROM data_sync_events WHERE event_id = $1 FOR UPDATE", event_id
        )
        if status is None:
            raise not_found("Outbox event", event_id)
        if status != "FAILED":
            raise conflict(
                f"Outbox event {event_id} is {status}: only a FAILED event is retried by hand",
                "OUTBOX_EVENT_NOT_FAILED",
            )
        row = await conn.fetchrow(
            f"""WITH retried AS (
                    UPDATE data_sync_events
                    SET status = 'PENDING', retry_count = 0, next_attempt_at = $2
                    WHERE event_id = $1 RETURNING {_FAILED_VIEW})
                SELECT retried.*, pg_notify('elms_outbox_' || current_schema(), '') FROM retried""",
            event_id,
            now,
        )
    return _operator_view(row)
