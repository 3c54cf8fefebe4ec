"""The business date as one service knows it: "today" for every business rule.

There is one business date for the whole system, owned by the loan service (docs/business-day.md).
In `calendar` mode it is the UTC date. In `manual` mode only an administrator moves it, forward;
each service keeps the last date it learnt and learns a later one from what the loan service
says: its `X-ELMS-Business-Date` header on every answer (the payment service reads the loan
before every payment, the gateway forwards every loan request), the BUSINESS_DATE_CHANGED
event, and a read at start. Dates only move forward, so learning is taking the later date: a
stale answer never moves a service back.

Timestamps of records (created_at, paid_at, …) stay real time (`clock.utcnow`).
"""

from __future__ import annotations

import contextlib
from contextvars import ContextVar
from datetime import UTC, date, datetime
from enum import StrEnum

HEADER = "X-ELMS-Business-Date"


class Mode(StrEnum):
    CALENDAR = "calendar"
    MANUAL = "manual"


def calendar_date() -> date:
    return datetime.now(UTC).date()


class BusinessDay:
    def __init__(self, mode: Mode | str = Mode.CALENDAR, known: date | None = None) -> None:
        self.mode = Mode(mode)
        self._known = known

    @property
    def manual(self) -> bool:
        return self.mode is Mode.MANUAL

    @property
    def known(self) -> date | None:
        """The date learnt from the loan service (manual mode); None before anything was, when
        `today()` is only the calendar's stand-in, which this service must not pass on."""
        return self._known if self.manual else None

    def today(self) -> date:
        """The business date. In manual mode before anything was learnt (the loan service not yet
        reached at start), the calendar's: the moment passes before a payment is priced, which
        takes the loan service's date with the loan."""
        if not self.manual or self._known is None:
            return calendar_date()
        return self._known

    def learn(self, told: date) -> None:
        """A date the loan service said: kept if later than the one known (manual mode)."""
        if self.manual and (self._known is None or told > self._known):
            self._known = told

    def learn_text(self, told: str | None) -> None:
        if told:
            with contextlib.suppress(ValueError):  # not a date: nothing learnt
                self.learn(date.fromisoformat(told))


# The business day of the service serving the current request (set by its middleware), so that
# request validation deep in a schema asks the right service's date.
business_day_var: ContextVar[BusinessDay | None] = ContextVar("business_day", default=None)


def today() -> date:
    """The business date of the service at work; outside any service (a CLI, a unit test), the
    calendar's."""
    found = business_day_var.get()
    return found.today() if found is not None else calendar_date()
