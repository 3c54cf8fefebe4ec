"""A service that keeps its callers waiting: a stand-in on a loopback port that takes every request,
holds it until the test lets go, then passes it to the real service and its answer back. A test
points a service's client at it (`routed`) to look at the caller while it waits for an answer,
with no timer: `reached()` returns once a request is being held."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI, Request, Response

from elms.core import database
from elms.core.service_client import ServiceClient
from tests.support.http import serving

# Not passed on: they describe the hop to the stand-in, not the request.
_HOP = {"host", "content-length", "connection", "transfer-encoding", "keep-alive"}
BOUND_SECONDS = 60.0


class HeldService:
    def __init__(self, target: str) -> None:
        self.target = target
        self.url = ""
        self.release = asyncio.Event()
        self.arrivals: asyncio.Queue[str] = asyncio.Queue()
        self.app = FastAPI()
        self.app.add_api_route(
            "/{path:path}", self._pass_on, methods=["GET", "POST", "PUT", "DELETE", "PATCH"]
        )

    async def _pass_on(self, request: Request) -> Response:
        self.arrivals.put_nowait(f"{request.method} {request.url.path}")
        await self.release.wait()
        target = f"{self.target}{request.url.path}"
        if request.url.query:
            target += f"?{request.url.query}"
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
        async with httpx.AsyncClient(timeout=30) as client:
            answer = await client.request(
                request.method, target, content=await request.body(), headers=headers
            )
        kept = {k: v for k, v in answer.headers.items() if k.lower() not in _HOP}
        return Response(answer.content, answer.status_code, headers=kept)

    async def reached(self) -> str:
        """The next request the stand-in holds, once it holds it."""
        return await asyncio.wait_for(self.arrivals.get(), BOUND_SECONDS)


@asynccontextmanager
async def held_service(target: str) -> AsyncIterator[HeldService]:
    held = HeldService(target)
    async with serving(held.app) as url:
        held.url = url
        try:
            yield held
        finally:
            held.release.set()


@contextmanager
def routed(app: Any, service: str, url: str) -> Iterator[None]:
    """Calls `app` makes to `service` go to `url` while the block runs."""
    replicas = app.state.services.replicas
    saved = replicas[service]
    replicas[service] = [url]
    try:
        yield
    finally:
        replicas[service] = saved


async def open_transactions(admin_url: str) -> list[dict[str, Any]]:
    """Every session of the test's database (but this one) inside a transaction that waits for
    its client: what a transaction left open across a call to another service looks like."""
    conn = await asyncpg.connect(admin_url)
    try:
        rows = await conn.fetch(
            """SELECT pid, application_name, state, query FROM pg_stat_activity
               WHERE datname = current_database() AND pid <> pg_backend_pid()
                 AND state LIKE 'idle in transaction%'"""
        )
    finally:
        await conn.close()
    return [dict(r) for r in rows]


def watch_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, bool]]:
    """Every call a service of this process makes to another from now on: to whom, what, and
    whether the task making it was inside a transaction of its database at the time."""
    made: list[tuple[str, str, bool]] = []
    send = ServiceClient.send

    async def watched(self: ServiceClient, service: str, method: str, path: str, **kw: Any):
        made.append((service, f"{method} {path}", database._ambient.get() is not None))
        return await send(self, service, method, path, **kw)

    monkeypatch.setattr(ServiceClient, "send", watched)
    return made
