"""Idempotency keys (api.md §1): a repeat with the same key and body replays the first answer.

The key is claimed with an INSERT in the same transaction as the work it guards, so:
- a concurrent request with the same key waits on the row and then replays the committed answer;
- a refused request (a DomainError) rolls its claim back with its work, and may be retried;
- a crash before commit leaves neither the work nor the claim.

That transaction must stay short: the work never calls another service (a transaction open
across a network call holds its locks and its pooled connection for as long as the other service
takes, and the claim's row lock makes every repeat wait as long). What a request needs from other
services is read first, outside any transaction, with `read_first`; the work then only writes.
`read_first` keeps a failed read for the work to raise, so a key already answered replays its
answer whatever the other service says now (or whether it answers at all).
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from asyncpg import Connection

from elms.core import jsoncodec
from elms.core.clock import utcnow
from elms.core.database import Database
from elms.core.errors import business_rule, invalid

MAX_KEY_LENGTH = 255

T = TypeVar("T")


@dataclass(frozen=True)
class Answer:
    status: int
    message: str
    data: Any


def fingerprint(method: str, path: str, body: Any) -> str:
    # Keys sorted: the same JSON object with its members in another order is the same body.
    canonical = jsoncodec.dumps(
        {"method": method, "path": path, "body": body, "v": 2}, sort_keys=True
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def owned_key(namespace: str, owner: str, key: str) -> str:
    """A client's key in its owner's own space: two users choosing the same key never meet. A
    digest, so any owner and key fit the column."""
    mixed = f"{owner}\n{key}"
    return f"{namespace}:" + hashlib.sha256(mixed.encode()).hexdigest()


def check_key(key: str) -> str:
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise invalid("Idempotency-Key", f"must be 1-{MAX_KEY_LENGTH} printable characters", key)
    return key


@dataclass(frozen=True)
class ReadFirst(Generic[T]):
    """What a request read from another service before claiming its key: the value, or the
    error the read ended with, raised only when the work asks for it (`get`)."""

    value: T | None
    error: Exception | None = None

    def get(self) -> T:
        if self.error is not None:
            raise self.error
        return self.value  # type: ignore[return-value]


async def read_first(read: Callable[[], Awaitable[T]]) -> ReadFirst[T]:
    """Run `read` (calls to other services, no transaction) before `run_once`. Whatever it
    raises (a refusal, the other service unreachable) is kept, not raised: the work raises it
    with `get()` once the key is claimed, so a refused or failed read leaves no claim, and a
    repeat of a request already answered is replayed without depending on this read."""
    try:
        return ReadFirst(await read())
    except Exception as error:
        return ReadFirst(None, error)


async def run_once(
    db: Database,
    key: str,
    request_fingerprint: str,
    ttl: timedelta,
    work: Callable[[], Awaitable[Answer]],
) -> tuple[Answer, bool]:
    """Do `work` once per key; returns its answer and whether it was replayed. `work` runs in the
    claim's transaction: it writes, and never calls another service (see `read_first`)."""
    now = utcnow()
    async with db.transaction() as conn:
        claimed = await conn.fetchval(
            """
            INSERT INTO idempotency_keys
                (idempotency_key, request_fingerprint, created_at, expires_at)
            VALUES ($1, $2, $3, $4)
            ON CONFLICT (idempotency_key) DO UPDATE
                SET request_fingerprint = EXCLUDED.request_fingerprint,
                    response_status = NULL, response_body = NULL,
                    created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at
                WHERE idempotency_keys.expires_at < EXCLUDED.created_at
            RETURNING true
            """,
            key,
            request_fingerprint,
            now,
            now + ttl,
        )
        if not claimed:
            earlier = await _stored(conn, key, request_fingerprint, now)
            assert earlier is not None  # the row that kept the claim from us
            return earlier, True
        answer = await work()
        await conn.execute(
            "UPDATE idempotency_keys SET response_status = $2, response_body = $3"
            " WHERE idempotency_key = $1",
            key,
            answer.status,
            {"message": answer.message, "data": answer.data},
        )
        return answer, False


async def _stored(
    conn: Connection, key: str, request_fingerprint: str, now: datetime
) -> Answer | None:
    row = await conn.fetchrow(
        "SELECT request_fingerprint, response_status, response_body FROM idempotency_keys"
        " WHERE idempotency_key = $1 AND response_status IS NOT NULL AND expires_at >= $2",
        key,
        now,
    )
    if row is None:
        return None
    if row["request_fingerprint"] != request_fingerprint:
        raise business_rule(
            "Idempotency-Key was already used with a different request",
            "IDEMPOTENCY_KEY_REUSED",
        )
    stored = row["response_body"]
    return Answer(row["response_status"], stored["message"], stored["data"])


async def earlier_answer(db: Database, key: str, request_fingerprint: str) -> Answer | None:
    """The answer a request with this key already got (None if none did yet), without claiming
    the key: a caller that must check a repeat before doing anything else (the gateway's sagas)
    looks here first, then claims with `run_once`, which settles any race between the two."""
    async with db.connection() as conn:
        return await _stored(conn, key, request_fingerprint, utcnow())


async def purge_expired(db: Database) -> int:
    async with db.transaction() as conn:
        deleted = await conn.execute("DELETE FROM idempotency_keys WHERE expires_at < $1", utcnow())
    return int(deleted.split()[-1])
