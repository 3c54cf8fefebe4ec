"""What the gateway tells operators beyond every service's actuator: its upstreams' health and
breakers, and metrics for breaker states, rate-limit rejections and the audit queue."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI
from prometheus_client import Counter, Gauge

from elms.core.config import Settings
from elms.core.service_client import ServiceClient, ServiceUnavailable
from elms.gateway import repository as repo
from elms.gateway.audit import AuditLog
from elms.gateway.breaker import BreakerStatus
from elms.gateway.breakers import BreakerBoard
from elms.gateway.saga.engine import SagaEngine

UPSTREAM_HEALTH_TIMEOUT = 2.0
_BREAKER_LEVEL = {BreakerStatus.CLOSED: 0, BreakerStatus.HALF_OPEN: 1, BreakerStatus.OPEN: 2}


def upstream_health(
    app: FastAPI, breakers: BreakerBoard
) -> Callable[[], Awaitable[dict[str, Any]]]:
    async def check() -> dict[str, Any]:
        services: ServiceClient = app.state.services

        async def one(name: str) -> tuple[str, dict[str, Any]]:
            try:
                async with asyncio.timeout(UPSTREAM_HEALTH_TIMEOUT):
                    answer = await services.send(name, "GET", "/actuator/health")
                status = "UP" if answer.status_code == 200 else "DOWN"
            except (ServiceUnavailable, TimeoutError):
                status = "DOWN"
            return name, {"status": status, "breaker": breakers.breakers[name].status.value}

        found = dict(await asyncio.gather(*(one(name) for name in breakers.breakers)))
        overall = "UP" if all(u["status"] == "UP" for u in found.values()) else "DEGRADED"
        return {"status": overall, "details": found}

    return check


class GatewayMetrics:
    def __init__(self, app: FastAPI, breakers: BreakerBoard, audit: AuditLog) -> None:
        registry = app.state.metrics.registry
        self.rejected = Counter(
            "gateway_rate_limit_rejections_total",
            "Requests refused by the rate limit",
            registry=registry,
        )
        self.breaker_state = Gauge(
            "gateway_circuit_breaker_state",
            "0 closed, 1 half-open, 2 open",
            ["upstream"],
            registry=registry,
        )
        self.audit_queue = Gauge(
            "gateway_audit_queue_depth", "Audit rows waiting to be written", registry=registry
        )
        self.audit_dropped = Counter(
            "elms_audit_rows_dropped",
            "Audit rows the database refused even alone (logged with their request id)",
            registry=registry,
        )
        audit.on_drop = self.audit_dropped.inc
        self.breakers = breakers
        self.audit = audit

    def update(self) -> None:
        for name, breaker in self.breakers.breakers.items():
            self.breaker_state.labels(name).set(_BREAKER_LEVEL[breaker.status])
        self.audit_queue.set(self.audit.queue.qsize())


def saga_health(sagas: SagaEngine, settings: Settings) -> Callable[[], Awaitable[dict[str, Any]]]:
    """Sagas by status, and the running ones whose heartbeat is stale (their gateway died;
    recovery takes them over). Stale ones make the component DEGRADED, not the gateway DOWN."""

    async def check() -> dict[str, Any]:
        assert sagas.db is not None
        async with asyncio.timeout(UPSTREAM_HEALTH_TIMEOUT), sagas.db.connection() as conn:
            counts, stale = await repo.saga_counts(conn, settings.saga_stale_after_seconds)
        return {
            "status": "DEGRADED" if stale else "UP",
            "details": {"byStatus": counts, "stale": stale, "runningHere": len(sagas.tasks)},
        }

    return check
