"""`/actuator/health`, `/actuator/info` and `/actuator/prometheus` (api.md §7), and the outbox's
FAILED events for an operator to see and send again (architecture.md §4)."""

from __future__ import annotations

import asyncio
import hmac
import platform
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from starlette.responses import Response

from elms.core import envelope, outbox
from elms.core.clock import utcnow
from elms.core.database import Database
from elms.core.envelope import Envelope
from elms.core.internal_auth import HEADER, service_credential
from elms.core.schemas import Page
from elms.core.web import PageNumber, PageSize

HEALTH_QUERY_TIMEOUT = 2.0


class HealthOut(BaseModel):
    status: Literal["UP", "DOWN"]
    # For a caller with the internal credential only: db, outbox and a service's own, and which
    # running process answered (`elms up` checks that a port is answered by the service it
    # started).
    components: dict[str, dict[str, Any]] | None = None
    instance: str | None = None


class InfoOut(BaseModel):
    name: str
    version: str
    build: dict[str, str]


_HEALTH_DOWN = {503: {"model": Envelope[HealthOut], "description": "The service is DOWN"}}
_PROMETHEUS = {
    200: {
        "description": "Prometheus text format",
        "content": {CONTENT_TYPE_LATEST.split(";")[0]: {"schema": {"type": "string"}}},
    }
}


def _presents_credential(request: Request) -> bool:
    state = request.app.state
    if not hasattr(state, "health_credential"):  # derived once: it may read the data directory
        state.health_credential = service_credential(state.settings).encode()
    offered = request.headers.get(HEADER, "").encode("latin-1")
    return hmac.compare_digest(offered, state.health_credential)


def actuator_router() -> APIRouter:
    r = APIRouter(prefix="/actuator", include_in_schema=False)

    @r.get("/health", response_model=Envelope[HealthOut], responses=_HEALTH_DOWN)
    async def health(request: Request) -> Response:
        """UP or DOWN for anyone (a load balancer asks with no credential); the components
        (pool sizes, outbox and saga counts, upstreams and breakers) only for a caller with
        the internal service credential: they tell an attacker what load would hurt."""
        db: Database = request.app.state.db
        outbox_counts: dict[str, int] = {}
        try:
            async with asyncio.timeout(HEALTH_QUERY_TIMEOUT):
                outbox_counts = await outbox.counts(db)
            database = {"status": "UP", "details": {"pool": db.stats()}}
        except Exception as error:
            database = {"status": "DOWN", "details": {"error": type(error).__name__}}
        status = database["status"]
        code = 200 if status == "UP" else 503
        if not _presents_credential(request):
            return envelope.success({"status": status}, f"Service is {status}", code)
        # The relay also polls, so a lost LISTEN connection slows events down (DEGRADED) but
        # stops nothing; it is opened again by itself.
        listener = getattr(request.app.state, "outbox_listener", None)
        listening = listener.listening if listener is not None else None
        outbox_status = "DEGRADED" if status == "UP" and listening is False else status
        components = {
            "db": database,
            "outbox": {
                "status": outbox_status,
                "details": {**outbox_counts, "listening": listening},
            },
        }
        # A service may report more (the gateway: its upstreams and their breakers).
        for name, component in getattr(request.app.state, "health_components", {}).items():
            try:
                components[name] = await component()
            except Exception as error:  # a component that cannot tell is DOWN, never a 500
                components[name] = {"status": "DOWN", "details": {"error": type(error).__name__}}
        data = {"status": status, "components": components}
        if request.app.state.settings.instance_id:
            data["instance"] = request.app.state.settings.instance_id
        return envelope.success(data, f"Service is {status}", code)

    @r.get("/info", response_model=Envelope[InfoOut])
    async def info(request: Request) -> Response:
        data = {
            "name": f"elms-{request.app.state.service_name}",
            "version": request.app.version,
            "build": {"python": platform.python_version()},
        }
        return envelope.success(data, "Service info")

    @r.get("/prometheus", response_class=Response, responses=_PROMETHEUS)
    async def prometheus(request: Request) -> Response:
        metrics = request.app.state.metrics
        stats = request.app.state.db.stats()
        metrics.pool.labels(metrics.service, "total").set(stats["size"])
        metrics.pool.labels(metrics.service, "idle").set(stats["idle"])
        metrics.pool.labels(metrics.service, "active").set(stats["size"] - stats["idle"])
        metrics.pool.labels(metrics.service, "max").set(stats["max"])
        try:
            async with asyncio.timeout(HEALTH_QUERY_TIMEOUT):
                counts = await outbox.counts(request.app.state.db)
        except Exception:  # metrics are served without the database too
            counts = {}
        for state, count in counts.items():
            metrics.outbox.labels(metrics.service, state).set(count)
        for update in getattr(request.app.state, "metric_updates", []):
            update()
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @r.get("/outbox/failed", response_model=Envelope[Page[dict[str, Any]]])
    async def failed_events(
        request: Request, page: PageNumber = 0, size: PageSize = 20
    ) -> Response:
        found, total = await outbox.failed_events(request.app.state.db, size, page * size)
        data = Page[dict].of(found, page, size, total).wire()
        return envelope.success(data, "Outbox events that failed for good")

    @r.post("/outbox/{event_id}/retry", response_model=Envelope[Any])
    async def retry_event(request: Request, event_id: Annotated[int, Path(ge=1)]) -> Response:
        retried = await outbox.retry_failed(request.app.state.db, event_id, utcnow())
        return envelope.success(retried, "Outbox event queued again")

    return r
