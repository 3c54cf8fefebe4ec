"""Calls from one service to another: one pooled HTTP client, exact JSON, timeouts, and the
request id passed along so a request can be followed across services in the logs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from elms.core import jsoncodec
from elms.core.context import request_id_var, saga_id_var


@dataclass(frozen=True)
class ServiceResponse:
    status: int
    body: Any

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


class ServiceUnavailable(Exception):
    """The other service could not be reached (no replica accepted the connection)."""


class ServiceTimeout(ServiceUnavailable):
    """The other service accepted the request but did not answer in time: it may have acted."""


class ServiceInterrupted(ServiceUnavailable):
    """The connection broke after the request was sent: the service may have acted."""


# Connections kept open to each service. httpcore looks at every connection of a pool (and
# polls every idle socket) on each request, so one small pool per service costs far less than
# one large pool for all (docs/performance.md).
KEEPALIVE_PER_SERVICE = 16
CONNECTIONS_PER_SERVICE = 100


class ServiceClient:
    """Each service may have several replicas (a comma-separated list of base URLs). Requests
    go round-robin; a replica that refuses the connection is skipped for the next one, which is
    safe for any request since it never reached the service. A timeout is not retried."""

    def __init__(
        self, base_urls: dict[str, str], timeout_seconds: float = 10.0, credential: str = ""
    ) -> None:
        self.credential = credential
        self.replicas = {
            name: [u.strip().rstrip("/") for u in urls.split(",") if u.strip()]
            for name, urls in base_urls.items()
        }
        self._next = dict.fromkeys(self.replicas, 0)
        self.http = {
            name: httpx.AsyncClient(
                timeout=httpx.Timeout(timeout_seconds, connect=min(timeout_seconds, 3.0)),
                limits=httpx.Limits(
                    max_connections=CONNECTIONS_PER_SERVICE,
                    max_keepalive_connections=KEEPALIVE_PER_SERVICE,
                ),
            )
            for name in self.replicas
        }

    async def send(
        self,
        service: str,
        method: str,
        path: str,
        *,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
        params: Any = None,
    ) -> httpx.Response:
        headers = {**(headers or {}), "X-ELMS-Service-Token": self.credential}
        replicas = self.replicas[service]
        start = self._next[service]
        self._next[service] = (start + 1) % len(replicas)
        last: Exception | None = None
        for i in range(len(replicas)):
            base = replicas[(start + i) % len(replicas)]
            try:
                return await self.http[service].request(
                    method, base + path, content=content, headers=headers, params=params
                )
            except (httpx.ConnectError, httpx.ConnectTimeout) as error:
                last = error
            except httpx.PoolTimeout as error:
                # No connection of our own pool came free: the request never left.
                raise ServiceUnavailable(f"{service}: client pool exhausted") from error
            except httpx.TimeoutException as error:
                raise ServiceTimeout(f"{service}: no answer in time") from error
            except httpx.HTTPError as error:
                raise ServiceInterrupted(f"{service}: {type(error).__name__}") from error
        raise ServiceUnavailable(f"{service}: no replica reachable") from last

    async def close(self) -> None:
        for client in self.http.values():
            await client.aclose()

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
        return ServiceResponse(response.status_code, parsed)
