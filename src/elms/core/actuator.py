"""`/actuator/health`, `/actuator/info` and `/actuator/prometheus` (api.md §7)."""

from __future__ import annotations

import asyncio
import platform

from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import Response

from elms.core import envelope
from elms.core.database import Database

HEALTH_QUERY_TIMEOUT = 2.0


def actuator_router() -> APIRouter:
    r = APIRouter(prefix="/actuator", include_in_schema=False)

    @r.get("/health")
    async def health(request: Request) -> Response:
        db: Database = request.app.state.db
        try:
            async with asyncio.timeout(HEALTH_QUERY_TIMEOUT), db.connection() as conn:
                await conn.fetchval("SELECT 1")
            database = {"status": "UP", "details": {"pool": db.stats()}}
        except Exception as error:
            database = {"status": "DOWN", "details": {"error": type(error).__name__}}
        status = database["status"]
        data = {"status": status, "components": {"db": database}}
        return envelope.success(data, f"Service is {status}", 200 if status == "UP" else 503)

    @r.get("/info")
    async def info(request: Request) -> Response:
        data = {
            "name": f"elms-{request.app.state.service_name}",
            "version": request.app.version,
            "build": {"python": platform.python_version()},
        }
        return envelope.success(data, "Service info")

    @r.get("/prometheus")
    async def prometheus(request: Request) -> Response:
        metrics = request.app.state.metrics
        stats = request.app.state.db.stats()
        metrics.pool.labels(metrics.service, "total").set(stats["size"])
        metrics.pool.labels(metrics.service, "idle").set(stats["idle"])
        metrics.pool.labels(metrics.service, "active").set(stats["size"] - stats["idle"])
        metrics.pool.labels(metrics.service, "max").set(stats["max"])
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return r
