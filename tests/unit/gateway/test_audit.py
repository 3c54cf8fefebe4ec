"""The audit trail cannot be jammed: values are made storable, a batch the database refuses is
halved until the row at fault is dropped alone, and a database out of reach drops nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import asyncpg
import pytest

from elms.gateway.audit import AuditLog, AuditRecord, masked, storable


def _record(n: int, url: str = "/api/v1/customers") -> AuditRecord:
    return AuditRecord(
        created_at=datetime(2026, 1, 1, tzinfo=UTC).replace(tzinfo=None),
        method="GET",
        url=url,
        ip="127.0.0.1",
        user_agent="test",
        headers={},
        request_body=None,
        status=200,
        response_body=None,
        processing_ms=1,
        user_id=None,
        customer_id=None,
        request_id=f"REQ-{n}",
    )


class FakeDatabase:
    """Writes rows to a list; refuses (as PostgreSQL would) any batch holding a row it cannot
    store, or is out of reach altogether."""

    def __init__(self, refuses: Callable[[tuple[Any, ...]], bool] = lambda row: False) -> None:
        self.refuses = refuses
        self.reachable = True
        self.rows: list[tuple[Any, ...]] = []
        self.attempts = 0

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[FakeDatabase]:
        self.attempts += 1
        if not self.reachable:
            raise ConnectionRefusedError("the database is down")
        yield self

    async def executemany(self, _sql: str, rows: list[tuple[Any, ...]]) -> None:
        if any(self.refuses(row) for row in rows):
            raise asyncpg.CharacterNotInRepertoireError("invalid byte sequence for encoding")
        self.rows.extend(rows)


def _ids(rows: list[tuple[Any, ...]]) -> list[str]:
    return [row[11]["x-request-id"] for row in rows]


def _log(db: FakeDatabase, count: int, bad: set[int] = frozenset()) -> tuple[AuditLog, list[int]]:
    dropped: list[int] = []
    audit = AuditLog(db=db, on_drop=lambda: dropped.append(1))  # type: ignore[arg-type]
    for n in range(count):
        audit.record(_record(n, "/api/v1/bad" if n in bad else "/api/v1/customers"))
    return audit, dropped


def test_nul_and_lone_surrogates_are_escaped_visibly_at_any_depth() -> None:
    value = {"na\x00me": ["va\x00lue", {"lone\ud800": "\udfff"}], "fine": "café", "n": 1}

    assert storable(value) == {
        "na\\x00me": ["va\\x00lue", {"lone\\ud800": "\\udfff"}],
        "fine": "café",
        "n": 1,
    }
    assert storable(None) is None and storable(True) is True


def test_a_number_beyond_what_numeric_holds_is_kept_as_text() -> None:
    assert storable(Decimal("1E+200000")) == "1E+200000"
    assert storable(Decimal("12.50")) == Decimal("12.50")


def test_a_row_is_storable_and_fits_its_columns() -> None:
    record = _record(1, "/api/v1/customers/" + "\x00" * 300)
    record.method = "X" * 40
    record.customer_id = "C" * 400
    record.response_body = {"error": {"message": "bad \x00 thing"}}

    row = record.row()

    assert row[5] == ("\\x00" * 300)[:255]  # resource id
    assert (row[3], row[7], row[8]) == ("C" * 255, "X" * 10, row[8][:500])
    assert "\x00" not in repr(row)
    assert row[17] == "bad \\x00 thing"


async def test_a_refused_row_is_found_by_halving_and_dropped_alone() -> None:
    db = FakeDatabase(refuses=lambda row: row[8] == "/api/v1/bad")
    audit, dropped = _log(db, 13, bad={4, 9})

    written = await audit.flush()

    assert written == 11 and len(dropped) == 2
    assert _ids(db.rows) == [f"REQ-{n}" for n in range(13) if n not in (4, 9)]
    assert audit.queue.empty()


async def test_a_database_out_of_reach_drops_nothing_and_keeps_the_order() -> None:
    db = FakeDatabase()
    db.reachable = False
    audit, dropped = _log(db, 450)

    assert await audit.flush() == 0  # never raises: the gateway's stop calls it
    assert db.attempts == 1 and not dropped  # not split: nothing is the rows' fault
    audit.record(_record(450))
    db.reachable = True

    assert await audit.flush() == 451
    assert _ids(db.rows) == [f"REQ-{n}" for n in range(451)]


async def test_rows_written_before_the_database_went_away_are_not_written_twice() -> None:
    db = FakeDatabase(refuses=lambda row: row[8] == "/api/v1/bad")
    audit, _ = _log(db, 8, bad={6})
    written_parts = 0
    original = db.executemany

    async def then_down(sql: str, rows: list[tuple[Any, ...]]) -> None:
        nonlocal written_parts
        await original(sql, rows)
        written_parts += 1
        if written_parts == 1:  # the first good half is in; then the database goes away
            db.reachable = False

    db.executemany = then_down  # type: ignore[method-assign]

    assert await audit.flush() == 4
    db.reachable = True
    assert await audit.flush() == 3

    assert _ids(db.rows) == [f"REQ-{n}" for n in range(8) if n != 6]


async def test_a_flush_cancelled_mid_write_puts_its_rows_back() -> None:
    db = FakeDatabase()
    entered = asyncio.Event()

    @asynccontextmanager
    async def stuck() -> AsyncIterator[FakeDatabase]:
        entered.set()
        await asyncio.sleep(3600)
        yield db

    audit, _ = _log(db, 3)
    db.transaction = stuck  # type: ignore[method-assign]
    task = asyncio.create_task(audit.flush())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert [audit.queue.get_nowait().request_id for _ in range(3)] == ["REQ-0", "REQ-1", "REQ-2"]


def test_bank_details_at_any_depth_are_masked_whatever_their_keys() -> None:
    body = {
        "data": {
            "bankDetails": {
                "bankName": "First Bank",
                "pan": "4111 1111 1111 1111",
                "acctNo": Decimal("12345678.9012"),
                "sortCode": "12-34-56",
            },
            "identificationNumber": "123-45-6789",
        }
    }

    assert masked(body) == {
        "data": {
            "bankDetails": {
                "bankName": "First Bank",
                "pan": "***************1111",
                "acctNo": "*********9012",
                "sortCode": "****3456",
            },
            "identificationNumber": "*******6789",
        }
    }
