"""What the gateway adds to every response and refuses before anything else (architecture.md §5):
the client's address, security headers, a request body size limit, and the rate limits per
client address and per user."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network, ip_address, ip_network

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from elms.core import envelope
from elms.core.errors import DomainError

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"strict-transport-security", b"max-age=31536000; includeSubDomains"),
    (b"content-security-policy", b"default-src 'self'"),
    (b"referrer-policy", b"no-referrer"),
]


# The documentation pages (/docs, /redoc) run only the gateway's own scripts too, but Swagger UI
# draws its icons as data: images and ReDoc styles itself with <style> elements and searches in
# a worker it makes from a blob.
DOCS_PAGES = frozenset({"/docs", "/redoc"})
DOCS_CONTENT_SECURITY_POLICY = (
    b"default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline';"
    b" worker-src 'self' blob:; frame-ancestors 'none'"
)


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
                if scope["path"] in DOCS_PAGES:
                    headers = [
                        (k, DOCS_CONTENT_SECURITY_POLICY if k == b"content-security-policy" else v)
                        for k, v in headers
                    ]
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


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    headers: list[tuple[bytes, bytes]]
    retry_after: int


class RequestBudget:
    """A moving window of requests per key (a client address, a token's subject), in memory or
    in Redis; one budget of `limit` for each key."""

    def __init__(self, limit: str, storage: Storage, namespace: str = "elms") -> None:
        self.item: RateLimitItem = parse(limit)
        self.limiter = MovingWindowRateLimiter(storage)
        self.namespace = namespace
        self.rejected: list[Callable[[], None]] = []  # counted by the gateway's metrics

    async def spend(self, kind: str, key: str) -> Verdict:
        allowed = await self.limiter.hit(self.item, self.namespace, kind, key)
        stats = await self.limiter.get_window_stats(self.item, self.namespace, kind, key)
        reset = max(math.ceil(stats.reset_time - time.time()), 0)
        headers = [
            (b"x-ratelimit-limit", str(self.item.amount).encode()),
            (b"x-ratelimit-remaining", str(max(stats.remaining, 0)).encode()),
            (b"x-ratelimit-reset", str(reset).encode()),
        ]
        if not allowed:
            for count in self.rejected:
                count()
        return Verdict(allowed, headers, max(reset, 1))

    async def spend_for_subject(self, subject: str) -> None:
        """An authenticated user's own budget, whatever address they come from: 429 past it."""
        verdict = await self.spend("subject", subject)
        if not verdict.allowed:
            raise DomainError(
                "Too many requests; try again later",
                "RATE_LIMITED",
                429,
                headers={"Retry-After": str(verdict.retry_after)},
            )


class RateLimit:
    """The budget per client address on every API request, with `X-RateLimit-*` headers; 429
    with `Retry-After`. (Per user: RequestBudget.spend_for_subject, once the token is read.)"""

    def __init__(self, app: ASGIApp, budget: RequestBudget) -> None:
        self.app = app
        self.budget = budget

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        client = (scope.get("client") or ("unknown", 0))[0]
        verdict = await self.budget.spend("ip", client)
        if not verdict.allowed:
            response = envelope.error(
                429,
                "RATE_LIMITED",
                "Too many requests; try again later",
                headers={"Retry-After": str(verdict.retry_after)},
            )
            response.raw_headers.extend(verdict.headers)
            await response(scope, receive, send)
            return

        async def send_counted(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *verdict.headers]
            await send(message)

        await self.app(scope, receive, send_counted)


def trusted_networks(cidrs: Sequence[str]) -> tuple[IPv4Network | IPv6Network, ...]:
    return tuple(ip_network(c.strip(), strict=False) for c in cidrs if c.strip())


def client_address(
    peer: str, forwarded_for: str | None, trusted: Sequence[IPv4Network | IPv6Network]
) -> str:
    """The client's address: the socket's peer, unless the peer is a trusted proxy; then the
    nearest address in `X-Forwarded-For` that is not itself a trusted proxy (read from the
    right: what lies further left was written by the client and proves nothing)."""

    def is_trusted(address: str) -> bool:
        try:
            ip = ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in trusted)

    if not forwarded_for or not is_trusted(peer):
        return peer
    for hop in reversed([h.strip() for h in forwarded_for.split(",")]):
        if not is_trusted(hop):
            try:
                return str(ip_address(hop))
            except ValueError:
                return peer  # a hop that is no address: the chain cannot be believed
    return peer


class ClientAddress:
    """Sets the request's client to the address it came from (`client_address`), for the rate
    limit, the audit trail and the services. The server itself believes no forwarding header
    (uvicorn runs with proxy_headers off)."""

    def __init__(self, app: ASGIApp, trusted: Sequence[IPv4Network | IPv6Network]) -> None:
        self.app = app
        self.trusted = tuple(trusted)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.trusted:
            peer, port = scope.get("client") or ("unknown", 0)
            forwarded = [v for k, v in scope.get("headers") or [] if k == b"x-forwarded-for"]
            chain = ",".join(v.decode("latin-1") for v in forwarded) or None
            scope["client"] = (client_address(peer, chain, self.trusted), port)
        await self.app(scope, receive, send)
