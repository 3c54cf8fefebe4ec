"""The loan origination service (port 8082, schema loan_db)."""

from __future__ import annotations

from fastapi import FastAPI

from elms.core.background import Job
from elms.core.clock import utcnow
from elms.core.config import Settings
from elms.core.database import Database
from elms.core.service_client import ServiceClient
from elms.core.web import create_service_app
from elms.loan import business_day, workers
from elms.loan.api import internal, loans
from elms.loan.operations_api import operations
from elms.loan.product_api import loan_products


def create_app(settings: Settings, dsn: str) -> FastAPI:
    def jobs(db: Database, settings: Settings, services: ServiceClient) -> list[Job]:
        return workers.jobs(app.state.cob, settings)

    async def start(app: FastAPI) -> None:
        # Before the first request: the business date is known, and the runner ready.
        business = app.state.business_day
        await business_day.load(app.state.db, business, utcnow())
        app.state.cob = business_day.Runner(app.state.db, business, settings, utcnow)

    app = create_service_app(
        name="loan",
        settings=settings,
        dsn=dsn,
        routers=[loans, loan_products, operations, internal],
        jobs=jobs,
        on_start=[start],
    )
    return app
