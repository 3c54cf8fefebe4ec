"""What the gateway adds to every response and refuses before anything else (architecture.md §5):
security headers, a request body size limit, and the rate limit per client IP."""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from elms.core import envelope

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"strict-transport-security", b"max-age=31536000; includeSubDomains"),
    (b"content-security-policy", b"default-src 'self'"),
    (b"referrer-policy", b"no-referrer"),
]


class SecurityHeaders:
    """api.md §6: on every response; `Cache-Control: no-store` on API responses."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        api = scope["path"].startswith("/api/")

        async def send_secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if k.lower() not in {name for name, _ in SECURITY_HEADERS}
                ]
                headers.extend(SECURITY_HEADERS)
                if api:
                    headers = [(k, v) for k, v in headers if k.lower() != b"cache-control"]
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_secured)


class BodySizeLimit:
    """Refuses a body over the limit with 413, by its declared length or as it streams in."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, counted, send)
        except _TooLarge:
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = envelope.error(
            413, "PAYLOAD_TOO_LARGE", f"Request bodies may be at most {self.max_bytes} bytes"
        )
        await response(scope, receive, send)


class _TooLarge(Exception):
    pass


def rate_limit_storage(redis_url: str | None) -> Storage:
    """In this process's memory by default; in Redis when configured, so replicas share one
    budget per client."""
    if not redis_url:
        return MemoryStorage()
    scheme = redis_url.split("://", 1)
    # redis-py's asyncio client, which the limits package supports beside coredis.
    return storage_from_string(f"async+{scheme[0]}://{scheme[1]}", implementation="redispy")


class RateLimit:
    """A moving window per client IP with `X-RateLimit-*` headers; 429 with `Retry-After`."""

    def __init__(
        self,
        app: ASGIApp,
        limit: str,
        storage: Storage,
        namespace: str = "elms",
        on_reject: object = None,
    ) -> None:
        self.app = app
        self.namespace = namespace
        self.item: RateLimitItem = parse(limit)
        self.limiter = MovingWindowRateLimiter(storage)
        self.on_reject = on_reject

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        client = (scope.get("client") or ("unknown", 0))[0]
        allowed = await self.limiter.hit(self.item, self.namespace, "ip", client)
        stats = await self.limiter.get_window_stats(self.item, self.namespace, "ip", client)
        reset = max(math.ceil(stats.reset_time - time.time()), 0)
        headers = [
            (b"x-ratelimit-limit", str(self.item.amount).encode()),
            (b"x-ratelimit-remaining", str(max(stats.remaining, 0)).encode()),
            (b"x-ratelimit-reset", str(reset).encode()),
        ]
        if not allowed:
            if callable(self.on_reject):
                self.on_reject()
            response = envelope.error(
                429,
                "RATE_LIMITED",
                "Too many requests; try again later",
                headers={"Retry-After": str(max(reset, 1))},
            )
            response.raw_headers.extend(headers)
            await response(scope, receive, send)
            return

        async def send_counted(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *headers]
            await send(message)

        await self.app(scope, receive, send_counted)
