"""The loan origination service (port 8082, schema loan_db)."""

from __future__ import annotations

from fastapi import FastAPI

from elms.core.config import Settings
from elms.core.web import create_service_app
from elms.loan import workers
from elms.loan.api import internal, loans
from elms.loan.product_api import loan_products


def create_app(settings: Settings, dsn: str) -> FastAPI:
    return create_service_app(
        name="loan",
        settings=settings,
        dsn=dsn,
        routers=[loans, loan_products, internal],
        jobs=workers.jobs,
    )
