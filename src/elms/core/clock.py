"""Time as ELMS stores it: naive UTC in TIMESTAMP columns (every connection runs with
``timezone=UTC``), written out as ISO 8601 with milliseconds and ``Z``."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta


def utcnow() -> datetime:
    """Now, as naive UTC: the form of every TIMESTAMP column of the spec."""
    return datetime.now(UTC).replace(tzinfo=None)


def iso_utc(moment: datetime) -> str:
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat(timespec="milliseconds") + "Z"


def as_naive_utc(moment: datetime) -> datetime:
    """A client's timestamp as stored: aware ones converted to UTC, naive ones taken as UTC."""
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def day_range(
    from_date: date | None, to_date: date | None
) -> tuple[datetime | None, datetime | None]:
    """Inclusive dates as a half-open range of timestamps: [from 00:00, the day after to 00:00).
    The last representable date has no next day, and nothing can be later than it anyway."""
    since = datetime.combine(from_date, time.min) if from_date else None
    until = (
        datetime.combine(to_date + timedelta(days=1), time.min)
        if to_date and to_date < date.max
        else None
    )
    return since, until
