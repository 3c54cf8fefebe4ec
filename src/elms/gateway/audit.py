"""The audit trail (issue 5 §5): every request through the gateway becomes one `audit_events`
row, secrets redacted and identifying numbers masked. Rows are queued on the request path and
written in batches by a background job, and the queue is flushed when the gateway stops."""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from elms.core import jsoncodec
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


def mask_value(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: mask_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_value(v) for v in value]
    text = str(value)
    return "*" * max(len(text) - 4, 4) + text[-4:] if len(text) > 4 else "****"


def masked(body: Any) -> Any:
    """Identification and account numbers masked to their last four characters, at any depth."""
    if isinstance(body, dict):
        return {k: mask_value(v) if _MASKED_KEYS.search(k) else masked(v) for k, v in body.items()}
    if isinstance(body, list):
        return [masked(v) for v in body]
    return body


def redacted_headers(headers: list[tuple[bytes, bytes]]) -> dict[str, str]:
    kept = {}
    for raw_name, raw_value in headers:
        name = raw_name.decode("latin-1").lower()
        kept[name] = REDACTED if name in _SECRET_HEADERS else raw_value.decode("latin-1")
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
    except ValueError:
        return {"unparsed": raw[:200].decode("utf-8", "replace")}


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
        match = _RESOURCE.match(self.url)
        resource_type = match.group("type") if match else None
        resource_id = match.group("id") if match else None
        error = None
        if isinstance(self.response_body, dict) and isinstance(
            self.response_body.get("error"), dict
        ):
            error = str(self.response_body["error"].get("message"))[:2000]
        return (
            "API_REQUEST",
            "gateway",
            self.user_id,
            self.customer_id,
            resource_type,
            resource_id,
            f"{self.method} {resource_type or self.url}"[:100],
            self.method,
            self.url[:500],
            (self.ip or "")[:45] or None,
            self.user_agent,
            {**self.headers, "x-request-id": self.request_id or ""},
            self.request_body,
            self.status,
            self.response_body,
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

    def record(self, record: AuditRecord) -> None:
        self.queue.put_nowait(record)

    async def flush(self) -> int:
        """Write everything queued, in batches; returns how many rows were written."""
        written = 0
        while not self.queue.empty() and self.db is not None:
            batch = [self.queue.get_nowait() for _ in range(min(BATCH, self.queue.qsize()))]
            try:
                async with self.db.transaction() as conn:
                    await repo.insert_audit_events(conn, [r.row() for r in batch])
            except Exception:
                # Back in the queue for the next round; an audit row is not dropped.
                for record in batch:
                    self.queue.put_nowait(record)
                raise
            written += len(batch)
        return written


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
            plain = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in headers}
            principal = scope.get("state", {}).get("principal")
            query = scope.get("query_string", b"").decode("latin-1")
            self.audit.record(
                AuditRecord(
                    created_at=utcnow(),
                    method=scope["method"],
                    url=scope["path"] + (f"?{query}" if query else ""),
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
