"""Calls from one service to another: one pooled HTTP client, exact JSON, timeouts, and the
request id passed along so a request can be followed across services in the logs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from elms.core import jsoncodec
from elms.core.context import request_id_var


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
    """The other service could not be reached or did not answer in time."""


class ServiceClient:
    def __init__(self, base_urls: dict[str, str], timeout_seconds: float = 10.0) -> None:
        self.base_urls = base_urls
        self.http = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_seconds, connect=min(timeout_seconds, 3.0)),
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
        )

    async def close(self) -> None:
        await self.http.aclose()

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
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        content = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            content = jsoncodec.dumps(body).encode()
        try:
            response = await self.http.request(
                method,
                self.base_urls[service].rstrip("/") + path,
                content=content,
                headers=headers,
                params=params,
            )
        except httpx.HTTPError as error:
            raise ServiceUnavailable(f"{service}: {type(error).__name__}") from error
        try:
            parsed = jsoncodec.loads(response.content) if response.content else None
        except ValueError:
            parsed = None
        return ServiceResponse(response.status_code, parsed)
