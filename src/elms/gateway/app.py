"""The API gateway (port 8080, schema banking_gateway): one front door for the services."""

from __future__ import annotations

from fastapi import FastAPI

from elms.core.background import Job
from elms.core.config import Settings
from elms.core.database import Database
from elms.core.service_client import ServiceClient
from elms.core.web import JobsFactory, create_service_app
from elms.gateway import auth
from elms.gateway import repository as repo
from elms.gateway.audit import AuditLog, AuditMiddleware
from elms.gateway.edge import BodySizeLimit, RateLimit, SecurityHeaders, rate_limit_storage
from elms.gateway.keys import VerificationKeys
from elms.gateway.proxy import router


def _jobs(audit: AuditLog) -> JobsFactory:
    def jobs(db: Database, settings: Settings, _services: ServiceClient) -> list[Job]:
        async def cleanup() -> int:
            async with db.transaction() as conn:
                await repo.cleanup_expired_sessions(conn)
            return 0

        audit.db = db
        return [
            Job("session-cleanup", settings.housekeeping_interval_seconds, cleanup),
            Job("audit-writer", settings.audit_flush_interval_seconds, audit.flush),
        ]

    return jobs


def create_app(settings: Settings, dsn: str) -> FastAPI:
    audit = AuditLog()
    app = create_service_app(
        name="gateway",
        settings=settings,
        # The front door: its callers authenticate with tokens, not the service credential.
        public=True,
        dsn=dsn,
        # The gateway's own routes come before the catch-all routing to the services.
        routers=[auth.router, router],
        jobs=_jobs(audit),
        on_stop=[audit.flush],
        middleware=[
            (AuditMiddleware, {"audit": audit}),
            (SecurityHeaders, {}),
            (
                RateLimit,
                {
                    "limit": settings.rate_limit,
                    "storage": rate_limit_storage(settings.redis_url),
                    "namespace": settings.rate_limit_namespace,
                },
            ),
            (BodySizeLimit, {"max_bytes": settings.max_request_bytes}),
        ],
    )
    app.state.verification_keys = VerificationKeys.from_settings(settings)
    app.state.audit = audit
    return app
