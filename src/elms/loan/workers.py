"""Background jobs of the loan service."""

from __future__ import annotations

from elms.core.background import Job
from elms.core.clock import today, utcnow
from elms.core.config import Settings
from elms.core.database import Database
from elms.core.service_client import ServiceClient
from elms.loan import service


def jobs(db: Database, settings: Settings, _: ServiceClient) -> list[Job]:
    return [
        # api.md §3: unpaid installments past their due date become OVERDUE.
        Job(
            "overdue-installments",
            settings.overdue_interval_seconds,
            lambda: service.mark_overdue(db, today(), utcnow()),
        ),
    ]
