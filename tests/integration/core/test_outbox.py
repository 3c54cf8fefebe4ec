"""The outbox relay's own behaviour (elms/core/outbox.py): it drains more than one batch in a
round of the job, and it is woken by the commit of an event, not before."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from elms.core import outbox
from elms.core.clock import utcnow
from elms.core.config import SERVICES
from elms.core.database import Database, PoolConfig


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
