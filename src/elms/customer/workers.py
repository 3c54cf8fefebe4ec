"""Background jobs of the customer service."""

from __future__ import annotations

from elms.core.background import Job
from elms.core.clock import utcnow
from elms.core.config import Settings
from elms.core.database import Database
from elms.core.service_client import ServiceClient
from elms.customer import service


def jobs(db: Database, settings: Settings, _: ServiceClient) -> list[Job]:
    return [
        # api.md §2: expired reservations return their credit at least once a minute.
        Job(
            "reservation-expiry",
            settings.reservation_expiry_interval_seconds,
            lambda: service.expire_reservations(db, utcnow()),
        ),
    ]
