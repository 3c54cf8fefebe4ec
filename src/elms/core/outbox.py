"""The transactional outbox (architecture.md §4), shared by every service.

A state change that another service must learn of writes its event into the service's own
`data_sync_events` in the same transaction (`enqueue`). The relay (`relay`, run as a background
job) delivers pending events, marks them PROCESSED, retries failures with exponential backoff up
to `max_retries`, then marks them FAILED.

No transaction is open while an event is delivered. A relay claims a batch in one short
statement (`claim`): the due rows are locked `FOR UPDATE SKIP LOCKED` and taken with a lease,
their `next_attempt_at` pushed past the time a delivery may take, so no other relay finds them
due while this one delivers. It then delivers them one by one outside any transaction and records
each outcome in a statement of its own. A relay that dies holding a claim leaves its events to the
others once the lease runs out; one that is stopped gives them back at once. Delivery is at least
once: consumers drop repeats by `(source, event id)` through `first_delivery`, in the transaction
that applies the event.

Relays are woken by the commit of an event (`listening`: LISTEN on a connection of its own, opened
again whenever it is lost) as well as on their interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
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
from elms.core.service_client import WHOLE_CALL_TIMEOUTS, ServiceClient, ServiceUnavailable

log = structlog.get_logger("elms.outbox")

EVENTS_PATH = "/internal/v1/events"
MAX_BACKOFF = timedelta(minutes=5)


def delivery_deadline(call_timeout_seconds: float) -> timedelta:
    """When a delivery is given up (counted as a failed attempt): 10 s after the service client
    ends any call (WHOLE_CALL_TIMEOUTS × its call timeout), so an HTTP delivery ends before."""
    return timedelta(seconds=call_timeout_seconds * WHOLE_CALL_TIMEOUTS + 10)


def lease_for(deadline: timedelta) -> timedelta:
    """How long a claim keeps an event from the other relays: longer than a delivery may take and
    its outcome written. A relay about to deliver with less than that left renews the lease of
    what it still holds, so even a batch of slow deliveries is never delivered twice at once; a
    relay that dies holding a claim delays its events by at most this long."""
    return deadline + timedelta(seconds=50)


# For the default call timeout of 10 s: 40 s and 90 s.
DELIVERY_DEADLINE = delivery_deadline(10)
LEASE = lease_for(DELIVERY_DEADLINE)
# Room kept in a lease, beyond the delivery deadline, to write the outcome of a delivery.
_OUTCOME_ROOM = timedelta(seconds=10)
# A stopped relay gives back what it claimed and has not finished, and a stopped listener
# closes its connection, within this many seconds (else they leave it: the lease runs out, the
# connection is cut).
_STOP_SECONDS = 5.0

# The LISTEN connection: opened again after it is lost, waiting between attempts from the first
# to the second (doubling); checked this often in case it died without a word (a half-open
# socket), by listening again on it.
LISTEN_RETRY_SECONDS = (0.5, 30.0)
LISTEN_CHECK_SECONDS = 30.0
_CONNECT_TIMEOUT_SECONDS = 10.0


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


@dataclass(frozen=True)
class NewEvent:
    event_type: str
    source: str
    target: str
    entity_type: str
    entity_id: str
    data: dict[str, Any]


async def enqueue_many(conn: Connection, events: Sequence[NewEvent], now: datetime) -> None:
    """`enqueue` for many events in one statement (close of business writes thousands)."""
    if not events:
        return
    await conn.execute(
        """WITH events AS (
               INSERT INTO data_sync_events (event_type, source_service, target_service,
                   entity_type, entity_id, event_data, created_at, next_attempt_at)
               SELECT e.event_type, e.source, e.target, e.entity_type, e.entity_id, e.data, $7, $7
               FROM unnest($1::varchar[], $2::varchar[], $3::varchar[], $4::varchar[],
                           $5::varchar[], $6::jsonb[])
                    AS e(event_type, source, target, entity_type, entity_id, data)
               RETURNING 1)
           SELECT count(*) FROM events, pg_notify('elms_outbox_' || current_schema(), '')""",
        [e.event_type for e in events],
        [e.source for e in events],
        [e.target for e in events],
        [e.entity_type for e in events],
        [e.entity_id for e in events],
        [e.data for e in events],
        now,
    )


def backoff(retry_count: int, base_seconds: float) -> timedelta:
    return min(timedelta(seconds=base_seconds * 2**retry_count), MAX_BACKOFF)


def channel(schema: str) -> str:
    """The notification channel of a schema's outbox."""
    return f"elms_outbox_{schema}"


def listener_name(schema: str) -> str:
    """The `application_name` of a schema's LISTEN connection (as pg_stat_activity shows it)."""
    return f"elms-outbox-listen-{schema}"


# --- waking on commit ----------------------------------------------------------------------------


class Listener:
    """The LISTEN connection of one schema's outbox, kept open: when it is lost (a database
    restart, a terminated backend, a broken network) it is opened again with backoff, and the
    relay is woken once it is back, for the events committed while no one listened. Losing it
    and getting it back are logged once each; meanwhile the relay polls on its interval."""

    def __init__(
        self,
        dsn: str,
        schema: str,
        wake: asyncio.Event,
        retry_seconds: tuple[float, float],
        check_seconds: float,
    ) -> None:
        self.dsn = dsn
        self.schema = schema
        self.wake = wake
        self.retry_seconds = retry_seconds
        self.check_seconds = check_seconds
        self.conn: Connection | None = None
        self._lost = asyncio.Event()

    @property
    def listening(self) -> bool:
        return self.conn is not None and not self.conn.is_closed()

    async def connect(self) -> None:
        lost = asyncio.Event()
        conn = await asyncpg.connect(
            self.dsn,
            timeout=_CONNECT_TIMEOUT_SECONDS,
            server_settings={"application_name": listener_name(self.schema)},
        )
        try:
            conn.add_termination_listener(lambda _: lost.set())
            await conn.add_listener(channel(self.schema), self._notified)
        except BaseException:
            conn.terminate()
            raise
        self.conn, self._lost = conn, lost

    def _notified(self, *_: Any) -> None:
        self.wake.set()

    async def keep(self) -> None:
        """Until cancelled: watch the connection, and open it again whenever it is lost."""
        while True:
            if self.conn is not None:
                await self._until_lost()
                log.warning(
                    "outbox listen connection lost; the relay polls until it is back",
                    schema=self.schema,
                )
                self._drop()
            await self._reconnect()
            log.info("outbox listen connection back", schema=self.schema)
            # Events committed while no one listened: the relay looks for them now.
            self.wake.set()

    async def _until_lost(self) -> None:
        assert self.conn is not None
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._lost.wait(), self.check_seconds)
                return
            if self.conn.is_closed():
                return
            try:
                # Listening again changes nothing on a live connection, and finds a dead one
                # whose socket never closed (the query stays `LISTEN …` in pg_stat_activity).
                await self.conn.execute(f'LISTEN "{channel(self.schema)}"', timeout=10)
            except Exception:
                return

    async def _reconnect(self) -> None:
        delay, longest = self.retry_seconds
        while True:
            try:
                await self.connect()
                return
            except Exception as e:  # whatever keeps it from connecting, it tries again
                log.debug("outbox listen connection not back yet", schema=self.schema, error=str(e))
            await asyncio.sleep(delay)
            delay = min(delay * 2, longest)

    def _drop(self) -> None:
        if self.conn is not None and not self.conn.is_closed():
            self.conn.terminate()
        self.conn = None

    async def close(self) -> None:
        conn, self.conn = self.conn, None
        if conn is None or conn.is_closed():
            return
        try:
            await conn.close(timeout=_STOP_SECONDS)
        except Exception:
            conn.terminate()


@asynccontextmanager
async def listening(
    dsn: str,
    schema: str,
    wake: asyncio.Event,
    *,
    retry_seconds: tuple[float, float] = LISTEN_RETRY_SECONDS,
    check_seconds: float = LISTEN_CHECK_SECONDS,
) -> AsyncIterator[Listener]:
    """Set `wake` whenever a transaction of this schema commits an event, on a connection of its
    own (LISTEN holds a session, which pooled connections never do), kept open for as long as the
    block runs (`Listener`). It listens before the block starts; if it cannot yet, the relay
    polls on its interval until the connection can be opened."""
    listener = Listener(dsn, schema, wake, retry_seconds, check_seconds)
    try:
        await listener.connect()
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
        log.warning("outbox relay cannot listen; it polls instead", error=str(error))
    keeping = asyncio.create_task(listener.keep(), name=f"outbox-listen-{schema}")
    try:
        yield listener
    finally:
        keeping.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await keeping
        await listener.close()


# --- the relay -----------------------------------------------------------------------------------


async def claim(
    db: Database, now: datetime, batch: int = 20, lease: timedelta = LEASE
) -> list[OutboxEvent]:
    """Take up to `batch` events due at `now` for `lease`, in one statement (its own short
    transaction), oldest first. Their `next_attempt_at` becomes `now + lease`: they stay PENDING,
    but no relay finds them due until the claiming one has recorded how their delivery went, or
    has died and the lease has run out."""
    async with db.connection() as conn:
        rows = await conn.fetch(
            """WITH due AS (
                    SELECT event_id FROM data_sync_events e
                    WHERE status = 'PENDING' AND next_attempt_at <= $1
                      -- One entity's events arrive in the order they happened: an event waits
                      -- while an older one of the same entity is still pending (being retried,
                      -- or claimed and under way). (A FAILED one does not hold the rest back;
                      -- consumers check what it would have done.)
                      AND NOT EXISTS (
                          SELECT 1 FROM data_sync_events older
                          WHERE older.entity_type = e.entity_type
                            AND older.entity_id = e.entity_id
                            AND older.event_id < e.event_id AND older.status = 'PENDING')
                    ORDER BY event_id LIMIT $2 FOR UPDATE SKIP LOCKED)
                UPDATE data_sync_events claimed SET next_attempt_at = $3
                FROM due WHERE claimed.event_id = due.event_id
                RETURNING claimed.event_id, claimed.event_type, claimed.source_service,
                    claimed.target_service, claimed.entity_type, claimed.entity_id,
                    claimed.event_data, claimed.retry_count, claimed.max_retries""",
            now,
            batch,
            now + lease,
        )
    return sorted((OutboxEvent(**row) for row in rows), key=lambda e: e.event_id)


async def relay(
    db: Database,
    deliver: Callable[[OutboxEvent], Awaitable[None]],
    now: datetime,
    *,
    batch: int = 20,
    backoff_seconds: float = 1.0,
    lease: timedelta = LEASE,
    deadline: timedelta = DELIVERY_DEADLINE,
) -> int:
    """Deliver every event due at `now`, a batch at a time, until a batch comes back short;
    returns how many were delivered. (One batch a round would cap a service at one batch per
    relay interval.) The first batch is claimed at `now`; later ones at `now` plus the time the
    pass has taken, so a long pass never claims, or leases, by a clock gone stale."""
    started = time.monotonic()

    def clock() -> datetime:
        return now + timedelta(seconds=time.monotonic() - started)

    delivered = 0
    at = now
    while True:
        events = await claim(db, at, batch, lease)
        delivered += await _deliver_claimed(
            db, deliver, events, at, at + lease, clock, backoff_seconds, lease, deadline
        )
        if len(events) < batch:
            return delivered
        at = clock()


async def _deliver_claimed(
    db: Database,
    deliver: Callable[[OutboxEvent], Awaitable[None]],
    events: Sequence[OutboxEvent],
    at: datetime,
    leased_until: datetime,
    clock: Callable[[], datetime],
    backoff_seconds: float,
    lease: timedelta,
    deadline: timedelta,
) -> int:
    """Deliver claimed events one by one, outside any transaction, recording each outcome as it
    comes; how many were delivered. Stopped (cancelled), it gives back what it has not finished."""
    delivered = 0
    pending = list(events)
    try:
        while pending:
            event = pending[0]
            left = leased_until - clock()
            if left <= timedelta(0):
                # Stalled past the lease (the process was paused): another relay may hold these
                # events now. They are due again for anyone, this relay's next claim included.
                log.warning("outbox lease ran out before delivery", events=len(pending))
                break
            if left < deadline + _OUTCOME_ROOM:
                leased_until = clock() + lease
                await _renew(db, [e.event_id for e in pending], leased_until)
            timer = asyncio.timeout(deadline.total_seconds())
            try:
                async with timer:
                    await deliver(event)
            except (DeliveryRefused, ServiceUnavailable) as error:
                await _failed(db, event, str(error), at, backoff_seconds)
            except Exception as error:
                if timer.expired():
                    reason = f"no answer within {deadline.total_seconds():g} s"
                else:
                    # Whatever went wrong with this event, the others are still delivered.
                    log.exception("outbox delivery broke", event_id=event.event_id)
                    reason = f"{type(error).__name__}: {error}"
                await _failed(db, event, reason, at, backoff_seconds)
            else:
                await _processed(db, event, at)
                delivered += 1
            pending.pop(0)
    except asyncio.CancelledError:
        # Stopped (the service is shutting down): what is not finished is due again at once,
        # for another replica, instead of waiting out the lease.
        if pending:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(_renew(db, [e.event_id for e in pending], at), _STOP_SECONDS)
        raise
    return delivered


async def _renew(db: Database, event_ids: list[int], until: datetime) -> None:
    """Move the lease of claimed events still pending to `until` (to give them back: the time
    they were claimed at, so they are due again at once)."""
    async with db.connection() as conn:
        await conn.execute(
            "UPDATE data_sync_events SET next_attempt_at = $2"
            " WHERE event_id = ANY($1::int[]) AND status = 'PENDING'",
            event_ids,
            until,
        )


async def _processed(db: Database, event: OutboxEvent, at: datetime) -> None:
    # Only a PENDING event: an outcome written late (after the lease ran out and another relay
    # delivered it) never undoes the other relay's.
    async with db.connection() as conn:
        await conn.execute(
            "UPDATE data_sync_events SET status = 'PROCESSED', processed_at = $2,"
            " next_attempt_at = $2, error_message = NULL"
            " WHERE event_id = $1 AND status = 'PENDING'",
            event.event_id,
            at,
        )


async def _failed(
    db: Database, event: OutboxEvent, error: str, now: datetime, backoff_seconds: float
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
    async with db.connection() as conn:
        await conn.execute(
            """UPDATE data_sync_events
               SET retry_count = $2, status = $3, error_message = $4, next_attempt_at = $5
               WHERE event_id = $1 AND status = 'PENDING'""",
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
