"""Calls from one service to another: a pool of connections per service, exact JSON, timeouts,
and the request id passed along so a request can be followed across services in the logs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import yarl

from elms.core import jsoncodec
from elms.core.business_day import HEADER as BUSINESS_DATE_HEADER
from elms.core.business_day import BusinessDay
from elms.core.context import request_id_var, saga_id_var

# Marks an answer that passes on another service's failure (core/web.py sets it): the caller's
# circuit breaker does not count it against the service that relayed it (elms.gateway.breakers).
RELAYED_FAILURE = "x-elms-relayed-failure"


def relayed_failure(headers: Mapping[str, str]) -> bool:
    return headers.get(RELAYED_FAILURE, "").strip().lower() == "true"


@dataclass(frozen=True)
class ServiceResponse:
    status: int
    body: Any
    relayed: bool = False  # the answer relays another service's failure

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def data(self) -> Any:
        return self.body.get("data") if isinstance(self.body, dict) else None

    @property
    def error(self) -> dict[str, Any]:
        if isinstance(self.body, dict) and isinstance(self.body.get("error"), dict):
            return self.body["error"]
        return {"code": "UPSTREAM_ERROR", "message": f"HTTP {self.status}"}

    def summary(self) -> str:
        """The status and the error it names, for a log line."""
        return _summary(self.status, self.body)


class ServiceUnavailable(Exception):
    """The other service could not be reached (no replica accepted the connection)."""


class ServiceTimeout(ServiceUnavailable):
    """The other service accepted the request but did not answer in time: it may have acted."""


class ServiceInterrupted(ServiceUnavailable):
    """The connection broke after the request was sent: the service may have acted."""


# Connections to each replica: at most this many at once, and an idle one closed well before the
# service closes it (SERVER_KEEP_ALIVE_SECONDS, given to every service's uvicorn), so a request
# never goes out on a connection the service is closing. aiohttp, not httpx: httpx spent over
# ten times the CPU per call under concurrency (docs/performance.md).
CONNECTIONS_PER_REPLICA = 100
SERVER_KEEP_ALIVE_SECONDS = 5
IDLE_CONNECTION_SECONDS = 2.0
# A call as a whole (body written, answer read) ends within this many call timeouts, however
# slowly an answer trickles in.
WHOLE_CALL_TIMEOUTS = 3


class _Lost(aiohttp.ClientConnectionError):
    """The connection failed once the request was under way."""


async def _never_resend(
    request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
) -> aiohttp.ClientResponse:
    """aiohttp sends a GET, PUT or DELETE a second time when its connection fails, even after the
    service has read it; a resent PUT could act twice, and a failure of the second attempt would
    look like "never sent". What is retried, and how, is the caller's to decide (the sagas re-run
    a step under its idempotency key), so a failed connection is reported, never resent."""
    try:
        return await handler(request)
    except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError):
        raise  # no connection was made: nothing was sent
    except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as error:
        raise _Lost(f"{type(error).__name__}: {error}") from error


@dataclass(frozen=True)
class RawResponse:
    """An answer as it came: for the gateway to pass on, or for `call` to parse."""

    status_code: int
    headers: Mapping[str, str]  # case-insensitive
    content: bytes

    @property
    def relayed(self) -> bool:
        """The answer relays another service's failure."""
        return relayed_failure(self.headers)

    def summary(self) -> str:
        """The status and the error it names, for a log line (parsed only when asked)."""
        try:
            body = jsoncodec.loads(self.content)
        except ValueError:
            body = None
        return _summary(self.status_code, body)


def _summary(status: int, body: Any) -> str:
    error = body.get("error") if isinstance(body, dict) else None
    error = error if isinstance(error, dict) else {}
    said = " ".join(str(error[part]) for part in ("code", "message") if error.get(part))
    return f"HTTP {status} {said}".rstrip()


def _url(address: str, params: Mapping[str, Any] | str | None, encoded: bool) -> yarl.URL:
    # Encoded: the path goes as given, byte for byte (the gateway forwards the path it checked;
    # yarl would otherwise resolve `..` and re-quote). Else it is quoted where it needs to be.
    url = yarl.URL(address, encoded=encoded)
    if isinstance(params, str) and params:
        # Verbatim: re-quoting would turn an escaped `&` or `=` into a separator.
        return yarl.URL(f"{url}?{params}", encoded=True)
    return url


class ServiceClient:
    """Each service may have several replicas (a comma-separated list of base URLs). Requests
    go round-robin; a replica that refuses the connection is skipped for the next one, which is
    safe for any request since it never reached the service. A timeout is not retried."""

    def __init__(
        self,
        base_urls: dict[str, str],
        timeout_seconds: float = 10.0,
        credential: str = "",
        business: BusinessDay | None = None,
    ) -> None:
        self.credential = credential
        # Every answer of the loan service says the business date: the caller learns it there.
        self.business = business
        self.replicas = {
            name: [u.strip().rstrip("/") for u in urls.split(",") if u.strip()]
            for name, urls in base_urls.items()
        }
        self._next = dict.fromkeys(self.replicas, 0)
        # Waiting for a pooled connection and connecting within t (3 s for the socket itself),
        # then t for each read, and the whole call within WHOLE_CALL_TIMEOUTS × t.
        self._timeout = aiohttp.ClientTimeout(
            total=timeout_seconds * WHOLE_CALL_TIMEOUTS,
            connect=timeout_seconds,
            sock_connect=min(timeout_seconds, 3.0),
            sock_read=timeout_seconds,
        )
        # One session (one pool) per service, opened on first use: aiohttp binds a session to
        # the running event loop.
        self._sessions: dict[str, aiohttp.ClientSession] = {}
        self._closed = False

    def _session(self, service: str) -> aiohttp.ClientSession:
        if self._closed:
            raise ServiceUnavailable(f"{service}: this service is stopping")
        session = self._sessions.get(service)
        if session is None:
            session = self._sessions[service] = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    limit=0,  # each replica has its own budget, below
                    limit_per_host=CONNECTIONS_PER_REPLICA,
                    keepalive_timeout=IDLE_CONNECTION_SECONDS,
                ),
                timeout=self._timeout,
                middlewares=(_never_resend,),
                # Shared by every caller: nothing of one answer may ride along on the next.
                cookie_jar=aiohttp.DummyCookieJar(),
                # A body goes with the caller's Content-Type or none (never a guessed one), and
                # an answer comes back as the service wrote it (no compression asked for).
                skip_auto_headers=("Content-Type", "Accept-Encoding"),
                auto_decompress=False,
            )
        return session

    async def send(
        self,
        service: str,
        method: str,
        path: str,
        *,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
        params: Mapping[str, Any] | str | None = None,
        path_encoded: bool = False,
    ) -> RawResponse:
        """`params` is a mapping to encode, or a query string already encoded (as the gateway
        received it); `path_encoded`, the path is sent exactly as given."""
        headers = {**(headers or {}), "X-ELMS-Service-Token": self.credential}
        if self.business is not None and (known := self.business.known) is not None:
            # What this service learnt of the business date, for the one it calls to learn.
            headers[BUSINESS_DATE_HEADER] = known.isoformat()
        replicas = self.replicas[service]
        start = self._next[service]
        self._next[service] = (start + 1) % len(replicas)
        last: Exception | None = None
        for i in range(len(replicas)):
            base = replicas[(start + i) % len(replicas)]
            try:
                async with self._session(service).request(
                    method,
                    _url(base + path, params, path_encoded),
                    data=content or None,
                    headers=headers,
                    params=None if isinstance(params, str) else params,
                    allow_redirects=False,
                ) as answer:
                    if self.business is not None and service == "loan":
                        self.business.learn_text(answer.headers.get(BUSINESS_DATE_HEADER))
                    return RawResponse(answer.status, answer.headers, await answer.read())
            except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as error:
                # Refused, or no connection made (or freed in our pool) in time: the request
                # never left, so the next replica may have it.
                last = error
            except TimeoutError as error:
                # Reading (SocketTimeoutError), or the call as a whole past its limit.
                raise ServiceTimeout(f"{service}: no answer in time") from error
            except aiohttp.ClientError as error:
                # Anything else happened after the request went out (or may have).
                raise ServiceInterrupted(f"{service}: {type(error).__name__}") from error
        raise ServiceUnavailable(f"{service}: no replica reachable") from last

    async def close(self) -> None:
        self._closed = True
        sessions, self._sessions = self._sessions, {}
        for session in sessions.values():
            await session.close()

    async def call(
        self,
        service: str,
        method: str,
        path: str,
        body: Any = None,
        *,
        idempotency_key: str | None = None,
        params: dict[str, Any] | None = None,
    ) -> ServiceResponse:
        headers = {"Accept": "application/json"}
        if request_id := request_id_var.get():
            headers["X-Request-ID"] = request_id
        if saga_id := saga_id_var.get():
            headers["X-Saga-ID"] = saga_id
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        content = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            content = jsoncodec.dumps(body).encode()
        response = await self.send(
            service, method, path, content=content, headers=headers, params=params
        )
        try:
            parsed = jsoncodec.loads(response.content) if response.content else None
        except ValueError:
            parsed = None
        return ServiceResponse(response.status_code, parsed, response.relayed)
