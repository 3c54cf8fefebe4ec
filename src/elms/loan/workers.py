"""Background jobs of the loan service."""

from __future__ import annotations

from elms.core.background import Job
from elms.core.config import Settings
from elms.loan.business_day import Runner


def jobs(runner: Runner, settings: Settings) -> list[Job]:
    return [
        # Close of business for every day the business date has passed (docs/business-day.md):
        # on its interval, or at once when an administrator moves the date.
        Job("close-of-business", settings.cob_interval_seconds, runner.catch_up, runner.wake),
    ]
