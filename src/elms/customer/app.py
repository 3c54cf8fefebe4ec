"""The customer management service (port 8081, schema customer_db)."""

from __future__ import annotations

from fastapi import FastAPI

from elms.core.config import Settings
from elms.core.web import create_service_app
from elms.customer import workers
from elms.customer.api import customers, internal


def create_app(settings: Settings, dsn: str) -> FastAPI:
    return create_service_app(
        name="customer",
        settings=settings,
        dsn=dsn,
        routers=[customers, internal],
        jobs=workers.jobs,
    )
