"""The audit trail (issue 5 §5): every request through the gateway becomes one `audit_events`
row, secrets redacted and identifying numbers masked. Rows are queued on the request path and
written in batches by a background job, and the queue is flushed when the gateway stops.

Whatever a client sends must not stop the trail: every value is made storable before it is
written (PostgreSQL text and JSONB hold no NUL, nor a lone surrogate), and a row the database
still refuses is found by halving its batch and dropped alone, logged and counted."""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg
import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from elms.core import jsoncodec, masking
from elms.core.clock import utcnow
from elms.core.context import request_id_var
from elms.core.database import Database
from elms.gateway import repository as repo

log = structlog.get_logger("elms.gateway.audit")

# Bodies are kept up to this size; past it the row says so instead of holding the body.
MAX_BODY = 64 * 1024
BATCH = 200
REDACTED = "[REDACTED]"
_SECRET_HEADERS = {"authorization", "cookie", "set-cookie", "x-elms-service-token"}
_MASKED_KEYS = re.compile(r"identification|account|iban|card|routing|ssn", re.IGNORECASE)
_RESOURCE = re.compile(r"^/api/v1/(?P<type>[a-z]+)(?:/(?P<id>[^/?]+))?")
# What PostgreSQL cannot store in text or JSONB: NUL, and lone surrogates (no UTF-8 form).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class UnwritableRow(Exception):
    """A record whose row could not even be built: it would fail the same at every flush."""


# A batch refused for what one of its rows holds. Anything else (the database unreachable, no
# connection free in time) is not the rows' fault: the batch stays queued for the next flush.
_REFUSED_ROW = (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError, UnwritableRow)


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def storable(value: Any) -> Any:
    """The value with what PostgreSQL cannot hold escaped visibly (NUL → `\\x00`, a lone
    surrogate → `\\ud800`), in strings and object keys at any depth. A number beyond what
    NUMERIC holds is kept as its text."""
    if isinstance(value, str):
        return _UNSTORABLE.sub(_escaped, value)
    if isinstance(value, dict):
        return {storable(k): storable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [storable(v) for v in value]
    if isinstance(value, Decimal) and not (
        value.as_tuple().exponent >= -16383 and value.adjusted() < 131072  # type: ignore[operator]
    ):
        return str(value)
    return value


def _text(raw: bytes) -> str:
    """Bytes as sent, as text: invalid UTF-8 escaped visibly (`\\xff`) rather than guessed."""
    return raw.decode("utf-8", "backslashreplace")


def mask_value(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: mask_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_value(v) for v in value]
    return masking.mask(str(value))


def _is_bank_details(key: str) -> bool:
    return key.replace("_", "").lower() == "bankdetails"


def masked(body: Any) -> Any:
    """Identification and account numbers masked to their last four characters, at any depth;
    in bank details, any value holding a number too, whatever its key (elms.core.masking)."""
    if isinstance(body, dict):
        return {
            k: mask_value(v)
            if _MASKED_KEYS.search(k)
            else masked(masking.mask_bank_details(v) if _is_bank_details(k) else v)
            for k, v in body.items()
        }
    if isinstance(body, list):
        return [masked(v) for v in body]
    return body


def redacted_headers(headers: list[tuple[bytes, bytes]]) -> dict[str, str]:
    kept = {}
    for raw_name, raw_value in headers:
        name = _text(raw_name).lower()
        kept[name] = REDACTED if name in _SECRET_HEADERS else _text(raw_value)
    return kept


def _body(raw: bytes, content_type: str) -> Any:
    if not raw:
        return None
    if len(raw) > MAX_BODY:
        return {"omitted": f"{len(raw)} bytes"}
    if "json" not in content_type:
        return {"omitted": f"{content_type or 'unknown'} body, {len(raw)} bytes"}
    try:
        return masked(jsoncodec.loads(raw))
    except (ValueError, RecursionError):  # nested too deeply to mask: kept as text, cut short
        return {"unparsed": _text(raw[:200])}


@dataclass
class AuditRecord:
    created_at: datetime
    method: str
    url: str
    ip: str | None
    user_agent: str | None
    headers: dict[str, str]
    request_body: Any
    status: int
    response_body: Any
    processing_ms: int
    user_id: str | None
    customer_id: str | None
    request_id: str | None

    def row(self) -> tuple[Any, ...]:
        """The row, every value storable and cut to its column's width (a client chooses most
        of them: the path, its ids, the method, headers and bodies)."""
        url = storable(self.url)
        match = _RESOURCE.match(url)
        resource_type, resource_id = match.group("type", "id") if match else (None, None)
        error = None
        if isinstance(self.response_body, dict) and isinstance(
            self.response_body.get("error"), dict
        ):
            error = storable(str(self.response_body["error"].get("message")))[:2000]
        method = storable(self.method)
        return (
            "API_REQUEST",
            "gateway",
            storable(self.user_id or "")[:255] or None,
            storable(self.customer_id or "")[:255] or None,
            resource_type and resource_type[:100],
            resource_id and resource_id[:255],
            f"{method} {resource_type or url}"[:100],
            method[:10],
            url[:500],
            storable(self.ip or "")[:45] or None,
            storable(self.user_agent),
            storable({**self.headers, "x-request-id": self.request_id or ""}),
            storable(self.request_body),
            self.status,
            storable(self.response_body),
            self.processing_ms,
            self.status < 400,
            error,
            self.created_at,
        )


@dataclass
class AuditLog:
    """The queue between requests and the database."""

    queue: asyncio.Queue[AuditRecord] = field(default_factory=asyncio.Queue)
    db: Database | None = None
    # Called for each row dropped (the gateway counts them: elms_audit_rows_dropped_total).
    on_drop: Callable[[], None] = lambda: None

    def record(self, record: AuditRecord) -> None:
        self.queue.put_nowait(record)

    async def flush(self) -> int:
        """Write everything queued, in batches and in order; returns how many rows were written.

        A batch refused for what a row holds is halved until the row at fault stands alone, and
        that row is dropped. Any other failure (the database out of reach) puts what is not
        written yet back at the head of the queue for the next flush; it is logged, never
        raised, for the gateway's stop calls this too."""
        written = 0
        parts: deque[list[AuditRecord]] = deque()
        while self.db is not None and (parts or not self.queue.empty()):
            if not parts:
                parts.append(
                    [self.queue.get_nowait() for _ in range(min(BATCH, self.queue.qsize()))]
                )
            part = parts.popleft()
            try:
                await self._insert(part)
            except _REFUSED_ROW as error:
                if len(part) > 1:
                    half = len(part) // 2
                    parts.extendleft((part[half:], part[:half]))
                else:
                    self._drop(part[0], error)
            except BaseException as error:  # cancelled too: the stop's flush writes the rest
                self._put_back([*part, *itertools.chain.from_iterable(parts)])
                if not isinstance(error, Exception):
                    raise
                log.warning(
                    "audit rows kept for the next flush",
                    queued=self.queue.qsize(),
                    error=f"{type(error).__name__}: {error}",
                )
                break
            else:
                written += len(part)
        return written

    async def _insert(self, part: list[AuditRecord]) -> None:
        assert self.db is not None
        try:
            rows = [record.row() for record in part]
        except Exception as error:
            raise UnwritableRow(f"{type(error).__name__}: {error}") from error
        async with self.db.transaction() as conn:
            await repo.insert_audit_events(conn, rows)

    def _put_back(self, records: list[AuditRecord]) -> None:
        """At the head of the queue, ahead of rows queued since: rows are written in order."""
        later = [self.queue.get_nowait() for _ in range(self.queue.qsize())]
        for record in (*records, *later):
            self.queue.put_nowait(record)

    def _drop(self, record: AuditRecord, error: Exception) -> None:
        log.error(
            "audit row dropped: the database refused it",
            request_id=record.request_id,
            method=storable(record.method),
            url=storable(record.url)[:500],
            error=f"{type(error).__name__}: {error}"[:1000],
        )
        self.on_drop()


class AuditMiddleware:
    def __init__(self, app: ASGIApp, audit: AuditLog) -> None:
        self.app = app
        self.audit = audit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_chunks: list[bytes] = []
        response_chunks: list[bytes] = []
        status = {"code": 500, "type": ""}

        async def receive_copy() -> Message:
            message = await receive()
            if message["type"] == "http.request" and sum(map(len, request_chunks)) <= MAX_BODY:
                request_chunks.append(message.get("body", b""))
            return message

        async def send_copy(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                headers = dict(message.get("headers") or [])
                status["type"] = headers.get(b"content-type", b"").decode("latin-1")
            elif message["type"] == "http.response.body" and (
                sum(map(len, response_chunks)) <= MAX_BODY
            ):
                response_chunks.append(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive_copy, send_copy)
        finally:
            headers = list(scope.get("headers") or [])
            plain = {_text(k).lower(): _text(v) for k, v in headers}
            principal = scope.get("state", {}).get("principal")
            # The path as it was sent (percent-encoded), not as decoded: `%00` stays `%00`.
            path = _text(scope.get("raw_path") or scope["path"].encode("utf-8", "surrogatepass"))
            query = _text(scope.get("query_string", b""))
            self.audit.record(
                AuditRecord(
                    created_at=utcnow(),
                    method=scope["method"],
                    url=path + (f"?{query}" if query else ""),
                    ip=(scope.get("client") or (None,))[0],
                    user_agent=plain.get("user-agent"),
                    headers=redacted_headers(headers),
                    request_body=_body(b"".join(request_chunks), plain.get("content-type", "")),
                    status=status["code"],
                    response_body=_body(b"".join(response_chunks), status["type"]),
                    processing_ms=round((time.perf_counter() - started) * 1000),
                    user_id=getattr(principal, "subject", None),
                    customer_id=getattr(principal, "customer_id", None),
                    request_id=request_id_var.get(),
                )
            )
