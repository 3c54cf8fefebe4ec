"""Circuit breakers per upstream (architecture.md §5), as a small pure state machine.

CLOSED counts consecutive failures; at the threshold it OPENs and refuses calls until
`next_attempt`; then it is HALF_OPEN and lets one probe through: success closes it, failure
opens it again. Time is passed in; the state is kept in `circuit_breaker_states` by
`breakers.py`, so every gateway replica and a restarted gateway see the same state."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum


class BreakerStatus(StrEnum):
    CLOSED = "CLOSED"
    OPEN = "OPEN"
    HALF_OPEN = "HALF_OPEN"


@dataclass(frozen=True)
class BreakerConfig:
    failure_threshold: int = 5
    open_seconds: float = 30.0

    def as_dict(self) -> dict[str, float]:
        return {"failureThreshold": self.failure_threshold, "openSeconds": self.open_seconds}


@dataclass(frozen=True)
class Breaker:
    name: str
    status: BreakerStatus = BreakerStatus.CLOSED
    failure_count: int = 0
    last_failure: datetime | None = None
    last_success: datetime | None = None
    next_attempt: datetime | None = None
    changed_at: datetime | None = None


def admit(breaker: Breaker, now: datetime) -> tuple[bool, Breaker]:
    """Whether a call may go through now, and the state after deciding (an OPEN breaker whose
    wait is over becomes HALF_OPEN and lets this call probe)."""
    if breaker.status is BreakerStatus.OPEN:
        if breaker.next_attempt is not None and now >= breaker.next_attempt:
            return True, replace(breaker, status=BreakerStatus.HALF_OPEN, changed_at=now)
        return False, breaker
    return True, breaker


def succeeded(breaker: Breaker, now: datetime) -> Breaker:
    if breaker.status is BreakerStatus.CLOSED and breaker.failure_count == 0:
        return replace(breaker, last_success=now)
    return replace(
        breaker,
        status=BreakerStatus.CLOSED,
        failure_count=0,
        last_success=now,
        next_attempt=None,
        changed_at=now if breaker.status is not BreakerStatus.CLOSED else breaker.changed_at,
    )


def failed(breaker: Breaker, now: datetime, config: BreakerConfig) -> Breaker:
    count = breaker.failure_count + 1
    opens = breaker.status is BreakerStatus.HALF_OPEN or count >= config.failure_threshold
    if not opens:
        return replace(breaker, failure_count=count, last_failure=now)
    return replace(
        breaker,
        status=BreakerStatus.OPEN,
        failure_count=count,
        last_failure=now,
        next_attempt=now + timedelta(seconds=config.open_seconds),
        changed_at=now,
    )
