"""The API gateway (port 8080, schema banking_gateway): one front door for the services."""

from __future__ import annotations

from fastapi import FastAPI

from elms.core.background import Job
from elms.core.config import Settings
from elms.core.database import Database
from elms.core.service_client import ServiceClient
from elms.core.web import JobsFactory, create_service_app
from elms.gateway import auth, docs, openapi
from elms.gateway import repository as repo
from elms.gateway.audit import AuditLog, AuditMiddleware
from elms.gateway.breaker import BreakerConfig
from elms.gateway.breakers import BreakerBoard
from elms.gateway.edge import (
    BodySizeLimit,
    ClientAddress,
    RateLimit,
    RequestBudget,
    SecurityHeaders,
    rate_limit_storage,
    trusted_networks,
)
from elms.gateway.keys import VerificationKeys
from elms.gateway.operations import GatewayMetrics, saga_health, upstream_health
from elms.gateway.proxy import UPSTREAMS, operations, router
from elms.gateway.saga import api as saga_api
from elms.gateway.saga.engine import SagaConfig, SagaEngine
from elms.gateway.saga.loan_creation import LOAN_CREATION
from elms.gateway.saga.metrics import SagaMetrics
from elms.gateway.saga.payment_processing import PAYMENT_PROCESSING

# On shutdown, running sagas get this long to finish before they are left to recovery.
SAGA_STOP_GRACE_SECONDS = 5.0


def _jobs(audit: AuditLog, breakers: BreakerBoard, sagas: SagaEngine) -> JobsFactory:
    def jobs(db: Database, settings: Settings, services: ServiceClient) -> list[Job]:
        async def cleanup() -> int:
            async with db.transaction() as conn:
                await repo.cleanup_expired_sessions(conn)
            return 0

        audit.db = db
        breakers.db = db
        sagas.bind(db, services, breakers)
        return [
            Job("breaker-refresh", settings.breaker_refresh_interval_seconds, breakers.refresh),
            Job("session-cleanup", settings.housekeeping_interval_seconds, cleanup),
            Job("audit-writer", settings.audit_flush_interval_seconds, audit.flush),
            Job("saga-recovery", settings.saga_recovery_interval_seconds, sagas.recover_once),
        ]

    return jobs


def create_app(settings: Settings, dsn: str) -> FastAPI:
    audit = AuditLog()
    budget = RequestBudget(
        settings.rate_limit, rate_limit_storage(settings.redis_url), settings.rate_limit_namespace
    )
    breakers = BreakerBoard(
        sorted(UPSTREAMS),
        BreakerConfig(
            settings.breaker_failure_threshold,
            settings.breaker_open_seconds,
            settings.breaker_half_open_probes,
        ),
    )
    sagas = SagaEngine([LOAN_CREATION, PAYMENT_PROCESSING], SagaConfig.from_settings(settings))
    app = create_service_app(
        name="gateway",
        settings=settings,
        # The front door: its callers authenticate with tokens, not the service credential.
        public=True,
        dsn=dsn,
        # The gateway's own routes come before the catch-all routing to the services.
        routers=[auth.router, operations, saga_api.router, router],
        jobs=_jobs(audit, breakers, sagas),
        # Sagas first: what they write is audited too.
        on_stop=[lambda: sagas.stop(SAGA_STOP_GRACE_SECONDS), audit.flush],
        middleware=[
            (ClientAddress, {"trusted": trusted_networks(settings.trusted_proxies.split(","))}),
            (AuditMiddleware, {"audit": audit}),
            (SecurityHeaders, {}),
            (RateLimit, {"budget": budget}),
            (BodySizeLimit, {"max_bytes": settings.max_request_bytes}),
        ],
    )
    # The public API's document, and its pages (offline: their assets are served from here).
    app.openapi = openapi.document  # type: ignore[method-assign]
    app.include_router(docs.router)
    app.mount(docs.ASSETS, docs.assets())
    app.state.verification_keys = VerificationKeys.from_settings(settings)
    app.state.budget = budget
    app.state.audit = audit
    app.state.breakers = breakers
    app.state.sagas = sagas
    sagas.metrics = SagaMetrics(app.state.metrics.registry)
    metrics = GatewayMetrics(app, breakers, audit)
    app.state.metric_updates = [metrics.update]
    app.state.health_components = {
        "upstreams": upstream_health(app, breakers),
        "sagas": saga_health(sagas, settings),
    }
    budget.rejected.append(metrics.rejected.inc)
    return app
