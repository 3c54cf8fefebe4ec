"""The outbox relay's own behaviour (elms/core/outbox.py): it drains more than one batch in a
round of the job, and it is woken by the commit of an event, not before. No transaction is open
while it delivers (issue 13): it claims with a lease, delivers, then records each outcome; two
relays never deliver one event at once, and what a dead relay claimed is delivered once its lease
runs out. Its LISTEN connection comes back by itself when it is lost."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import asyncpg
import pytest

from elms.core import outbox
from elms.core.clock import utcnow
from elms.core.config import SERVICES
from elms.core.database import Database, PoolConfig
from tests.support.held import open_transactions
from tests.support.waiting import until


@pytest.fixture
async def loan_db(database) -> AsyncIterator[Database]:
    config = PoolConfig.for_service(SERVICES["loan"], database.settings)
    db = await Database.open(database.dsn("loan"), "loan_db", "loan", config)
    try:
        yield db
    finally:
        await db.close()


async def _enqueue(conn, entity: str) -> int:
    return await outbox.enqueue(
        conn,
        event_type="LOAN_APPROVED",
        source="loan",
        target="customer",
        entity_type="LOAN",
        entity_id=entity,
        data={"loanId": entity},
        now=utcnow(),
    )


async def test_one_relay_pass_delivers_every_due_event_however_many_batches(loan_db):
    async with loan_db.transaction() as conn:
        ids = [await _enqueue(conn, f"LOAN-{n}") for n in range(45)]
    seen: list[int] = []

    async def deliver(event: outbox.OutboxEvent) -> None:
        seen.append(event.event_id)

    delivered = await outbox.relay(loan_db, deliver, utcnow(), batch=20)

    assert delivered == 45
    assert seen == ids
    async with loan_db.connection() as conn:
        assert (
            await conn.fetchval("SELECT count(*) FROM data_sync_events WHERE status = 'PROCESSED'")
            == 45
        )


async def test_the_relay_is_woken_when_an_event_commits_and_not_before(database, loan_db):
    wake = asyncio.Event()
    async with outbox.listening(database.dsn("loan"), "loan_db", wake):
        async with loan_db.transaction() as conn:
            await _enqueue(conn, "LOAN-WAKE")
            # Still uncommitted: a relay woken now would find nothing to deliver.
            await conn.fetchval("SELECT 1")
            assert not wake.is_set()
        await asyncio.wait_for(wake.wait(), timeout=30)


# --- claim, deliver, record: no transaction across a delivery ---------------------------------


class Holding:
    """A delivery target that keeps each delivery waiting until the test lets go."""

    def __init__(self) -> None:
        self.arrived: asyncio.Queue[int] = asyncio.Queue()
        self.release = asyncio.Event()

    async def deliver(self, event: outbox.OutboxEvent) -> None:
        self.arrived.put_nowait(event.event_id)
        await self.release.wait()

    async def reached(self) -> int:
        return await asyncio.wait_for(self.arrived.get(), timeout=60)


def recording(into: list[int]):
    async def deliver(event: outbox.OutboxEvent) -> None:
        into.append(event.event_id)

    return deliver


async def _rows(db: Database) -> dict[int, Any]:
    async with db.connection() as conn:
        rows = await conn.fetch(
            "SELECT event_id, status, retry_count, next_attempt_at, error_message"
            " FROM data_sync_events ORDER BY event_id"
        )
    return {r["event_id"]: r for r in rows}


async def test_no_transaction_is_open_while_an_event_is_delivered(database, loan_db):
    async with loan_db.transaction() as conn:
        ids = [await _enqueue(conn, f"LOAN-HELD-{n}") for n in range(2)]
    held = Holding()
    now = utcnow()
    relaying = asyncio.create_task(outbox.relay(loan_db, held.deliver, now))
    try:
        assert await held.reached() == ids[0]
        assert await open_transactions(database.admin_url) == []
        # Both are claimed: another relay finds nothing due, and does not wait for them either.
        others: list[int] = []
        assert await outbox.relay(loan_db, recording(others), now) == 0
        assert others == []
        rows = await _rows(loan_db)
        assert {r["status"] for r in rows.values()} == {"PENDING"}
        assert all(r["next_attempt_at"] == now + outbox.LEASE for r in rows.values())
    finally:
        held.release.set()
    assert await relaying == 2
    assert {r["status"] for r in (await _rows(loan_db)).values()} == {"PROCESSED"}


async def test_two_relays_at_once_deliver_each_event_once_never_together_and_in_order(loan_db):
    async with loan_db.transaction() as conn:
        # Fifteen loans with three events each, interleaved as they would be committed.
        ids = [await _enqueue(conn, f"LOAN-PAIR-{n % 15}") for n in range(45)]
    delivered: Counter[int] = Counter()
    order: defaultdict[str, list[int]] = defaultdict(list)
    in_flight: set[int] = set()
    overlaps: list[int] = []

    async def deliver(event: outbox.OutboxEvent) -> None:
        if event.event_id in in_flight:
            overlaps.append(event.event_id)
        in_flight.add(event.event_id)
        await asyncio.sleep(0)  # let the other relay run meanwhile
        in_flight.discard(event.event_id)
        delivered[event.event_id] += 1
        order[event.entity_id].append(event.event_id)

    for _ in range(10):
        now = utcnow()
        await asyncio.gather(
            outbox.relay(loan_db, deliver, now, batch=4),
            outbox.relay(loan_db, deliver, now, batch=4),
        )
        if sum(delivered.values()) == len(ids):
            break
    assert overlaps == []
    assert delivered == Counter(ids)
    assert all(events == sorted(events) for events in order.values())
    assert {r["status"] for r in (await _rows(loan_db)).values()} == {"PROCESSED"}


async def test_what_a_dead_relay_claimed_is_delivered_once_its_lease_runs_out(loan_db):
    async with loan_db.transaction() as conn:
        event_id = await _enqueue(conn, "LOAN-ORPHAN")
    now = utcnow()
    # A relay claims the event, then dies before delivering it (nothing of it runs any more).
    [claimed] = await outbox.claim(loan_db, now)
    assert claimed.event_id == event_id

    seen: list[int] = []
    assert await outbox.relay(loan_db, recording(seen), now) == 0
    almost = now + outbox.LEASE - timedelta(milliseconds=1)
    assert await outbox.relay(loan_db, recording(seen), almost) == 0
    assert seen == []
    assert await outbox.relay(loan_db, recording(seen), now + outbox.LEASE) == 1
    assert seen == [event_id]
    assert (await _rows(loan_db))[event_id]["status"] == "PROCESSED"


async def test_a_stopped_relay_gives_back_what_it_has_not_finished(loan_db):
    async with loan_db.transaction() as conn:
        ids = [await _enqueue(conn, f"LOAN-STOP-{n}") for n in range(2)]
    held = Holding()
    now = utcnow()
    relaying = asyncio.create_task(outbox.relay(loan_db, held.deliver, now))
    assert await held.reached() == ids[0]
    relaying.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await relaying

    # Due again at once for the next relay (another replica), not after the lease.
    seen: list[int] = []
    assert await outbox.relay(loan_db, recording(seen), now) == 2
    assert seen == ids


async def test_a_relay_renews_its_lease_before_a_delivery_it_might_not_finish_in_time(loan_db):
    async with loan_db.transaction() as conn:
        ids = [await _enqueue(conn, f"LOAN-RENEW-{n}") for n in range(2)]
    held = Holding()
    now = utcnow()
    lease = timedelta(seconds=30)
    # A delivery may take longer than what is left of the lease: renewed first, from the time
    # the pass has taken.
    relaying = asyncio.create_task(
        outbox.relay(loan_db, held.deliver, now, lease=lease, deadline=timedelta(seconds=60))
    )
    try:
        assert await held.reached() == ids[0]
        rows = await _rows(loan_db)
        assert all(rows[i]["next_attempt_at"] > now + lease for i in ids)
    finally:
        held.release.set()
    assert await relaying == 2


async def test_a_delivery_past_its_deadline_counts_as_a_failed_attempt(loan_db):
    async with loan_db.transaction() as conn:
        event_id = await _enqueue(conn, "LOAN-SLOW")
    held = Holding()  # never released: the target does not answer
    now = utcnow()
    delivered = await outbox.relay(
        loan_db, held.deliver, now, deadline=timedelta(0), backoff_seconds=1.0
    )
    assert delivered == 0
    row = (await _rows(loan_db))[event_id]
    assert (row["status"], row["retry_count"]) == ("PENDING", 1)
    assert row["next_attempt_at"] == now + timedelta(seconds=2)
    assert "no answer within" in row["error_message"]


# --- the LISTEN connection ------------------------------------------------------------------


class Recorder:
    """Stands in for the outbox's logger: what it logged, by level."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def __getattr__(self, level: str):
        def log(event: str, **_: Any) -> None:
            self.lines.append((level, event))

        return log

    def said(self, level: str) -> list[str]:
        return [event for lvl, event in self.lines if lvl == level]


async def _listen_sessions(admin_url: str, schema: str) -> list[int]:
    conn = await asyncpg.connect(admin_url)
    try:
        rows = await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query = $1",
            f'LISTEN "{outbox.channel(schema)}"',
        )
    finally:
        await conn.close()
    return [r["pid"] for r in rows]


async def test_the_listen_connection_comes_back_after_it_is_lost(database, loan_db, monkeypatch):
    logged = Recorder()
    monkeypatch.setattr(outbox, "log", logged)
    wake = asyncio.Event()
    async with outbox.listening(database.dsn("loan"), "loan_db", wake):
        [before] = await _listen_sessions(database.admin_url, "loan_db")
        wake.clear()
        admin = await asyncpg.connect(database.admin_url)
        try:
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", before)
        finally:
            await admin.close()

        # Back by itself, and the relay woken once for what was committed meanwhile.
        await asyncio.wait_for(wake.wait(), timeout=60)
        [after] = await until(
            lambda: _only_new_session(database.admin_url, before), "the new LISTEN session"
        )
        assert after != before

        # Listening again: a commit wakes the relay.
        wake.clear()
        async with loan_db.transaction() as conn:
            await _enqueue(conn, "LOAN-AFTER-RESTART")
        await asyncio.wait_for(wake.wait(), timeout=60)

    assert logged.said("warning") == [
        "outbox listen connection lost; the relay polls until it is back"
    ]
    assert logged.said("info") == ["outbox listen connection back"]
    # Stopped with the block: its session ends.
    assert await until(lambda: _no_session(database.admin_url), "the LISTEN session to end")


async def _only_new_session(admin_url: str, before: int) -> list[int]:
    pids = await _listen_sessions(admin_url, "loan_db")
    return pids if len(pids) == 1 and before not in pids else []


async def _no_session(admin_url: str) -> bool:
    return not await _listen_sessions(admin_url, "loan_db")


async def test_a_relay_that_cannot_listen_at_start_polls_and_stops_cleanly(monkeypatch):
    logged = Recorder()
    monkeypatch.setattr(outbox, "log", logged)
    wake = asyncio.Event()
    async with outbox.listening(
        "postgresql://nobody@127.0.0.1:9/none", "loan_db", wake, retry_seconds=(0.01, 0.1)
    ) as listener:
        assert not listener.listening
    assert logged.said("warning") == ["outbox relay cannot listen; it polls instead"]
    assert not wake.is_set()
