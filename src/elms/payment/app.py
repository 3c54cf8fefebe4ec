"""The payment processing service (port 8083, schema payment_db)."""

from __future__ import annotations

from fastapi import FastAPI

from elms.core.background import Job
from elms.core.config import Settings
from elms.core.database import Database
from elms.core.service_client import ServiceClient
from elms.core.web import create_service_app
from elms.payment.api import internal, payments


def _no_jobs(_db: Database, _settings: Settings, _services: ServiceClient) -> list[Job]:
    # The payment service's only background work is the platform's (outbox, housekeeping).
    return []


def create_app(settings: Settings, dsn: str) -> FastAPI:
    return create_service_app(
        name="payment", settings=settings, dsn=dsn, routers=[payments, internal], jobs=_no_jobs
    )
