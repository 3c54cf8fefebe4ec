"""Circuit breakers per upstream (architecture.md §5), as a small pure state machine, with the
states and transitions of Resilience4j's count-based breaker.

- CLOSED counts consecutive failures; at `failure_threshold` it OPENs.
- OPEN refuses every call until `next_attempt`. Only the moves into OPEN (CLOSED→OPEN,
  HALF_OPEN→OPEN) set `next_attempt`: a failure reported while it is OPEN (a call admitted
  before it opened, answering late) is recorded and moves nothing, so a slow upstream's calls in
  flight never lengthen the wait.
- After the wait the first call makes it HALF_OPEN. HALF_OPEN admits at most
  `half_open_probes` calls (Resilience4j's `permittedNumberOfCallsInHalfOpenState`); when that
  many have succeeded it CLOSEs, and any one of them failing OPENs it again with a fresh wait.
  Only the probes of the current round count: an outcome of a call admitted before the round
  began (`admitted < changed_at`) is recorded and moves nothing. A round whose probes have not
  all answered within `open_seconds` (a gateway died mid-probe) is started afresh.

Which answers are failures is the caller's to say (breakers.py: the upstream's own 5xx, no
connection, a timeout; never a failure it relays from another service). Time is passed in; the
state is kept in `circuit_breaker_states` by `breakers.py`, so every gateway replica and a
restarted gateway see the same state."""

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
    half_open_probes: int = 3

    def __post_init__(self) -> None:
        if self.failure_threshold < 1 or self.half_open_probes < 1 or self.open_seconds < 0:
            raise ValueError(f"Invalid circuit breaker configuration: {self}")

    @property
    def wait(self) -> timedelta:
        return timedelta(seconds=self.open_seconds)

    def as_dict(self) -> dict[str, float]:
        return {
            "failureThreshold": self.failure_threshold,
            "openSeconds": self.open_seconds,
            "halfOpenProbes": self.half_open_probes,
        }


@dataclass(frozen=True)
class Breaker:
    name: str
    status: BreakerStatus = BreakerStatus.CLOSED
    failure_count: int = 0
    last_failure: datetime | None = None
    last_success: datetime | None = None
    next_attempt: datetime | None = None
    changed_at: datetime | None = None
    # HALF_OPEN only: the probes admitted in this round, and how many of them succeeded.
    probes: int = 0
    probes_passed: int = 0

    def state(self) -> tuple[object, ...]:
        """What decides calls, without the last success and failure times."""
        return (
            self.status,
            self.failure_count,
            self.next_attempt,
            self.changed_at,
            self.probes,
            self.probes_passed,
        )


def _in_round(breaker: Breaker, admitted: datetime) -> bool:
    """Whether a call admitted then is a probe of the breaker's current HALF_OPEN round."""
    return breaker.changed_at is None or admitted >= breaker.changed_at


def _opened(breaker: Breaker, now: datetime, config: BreakerConfig, count: int) -> Breaker:
    return replace(
        breaker,
        status=BreakerStatus.OPEN,
        failure_count=count,
        last_failure=now,
        next_attempt=now + config.wait,
        changed_at=now,
        probes=0,
        probes_passed=0,
    )


def admit(breaker: Breaker, now: datetime, config: BreakerConfig) -> tuple[bool, Breaker]:
    """Whether a call may go through now, and the state after deciding: an OPEN breaker whose
    wait is over becomes HALF_OPEN and this call is its first probe; a HALF_OPEN one admits
    probes while it has room (or starts a new round when the last one never decided)."""
    match breaker.status:
        case BreakerStatus.CLOSED:
            return True, breaker
        case BreakerStatus.OPEN:
            if breaker.next_attempt is not None and now < breaker.next_attempt:
                return False, breaker
            return True, _probing(breaker, now)
    if breaker.probes < config.half_open_probes:
        return True, replace(breaker, probes=breaker.probes + 1)
    if breaker.changed_at is not None and now >= breaker.changed_at + config.wait:
        return True, _probing(breaker, now)  # the round's probes never all answered
    return False, breaker


def _probing(breaker: Breaker, now: datetime) -> Breaker:
    return replace(
        breaker, status=BreakerStatus.HALF_OPEN, changed_at=now, probes=1, probes_passed=0
    )


def retry_after(breaker: Breaker) -> datetime | None:
    """When a refused caller may expect a call to be admitted: the end of an OPEN breaker's wait;
    None for a HALF_OPEN one whose probes are all out (they decide any moment)."""
    return breaker.next_attempt if breaker.status is BreakerStatus.OPEN else None


def succeeded(
    breaker: Breaker, now: datetime, config: BreakerConfig, admitted: datetime
) -> Breaker:
    """A call admitted at `admitted` succeeded. CLOSED: the consecutive failures start again.
    HALF_OPEN: one probe passed, and the last of `half_open_probes` closes it. OPEN: nothing
    moves (only the end of the wait does)."""
    match breaker.status:
        case BreakerStatus.CLOSED:
            return replace(breaker, failure_count=0, last_success=now)
        case BreakerStatus.OPEN:
            return replace(breaker, last_success=now)
    if not _in_round(breaker, admitted) or breaker.probes_passed >= breaker.probes:
        return replace(breaker, last_success=now)  # not one of this round's probes
    passed = breaker.probes_passed + 1
    if passed < config.half_open_probes:
        return replace(breaker, probes_passed=passed, last_success=now)
    return replace(
        breaker,
        status=BreakerStatus.CLOSED,
        failure_count=0,
        last_success=now,
        next_attempt=None,
        changed_at=now,
        probes=0,
        probes_passed=0,
    )


def failed(breaker: Breaker, now: datetime, config: BreakerConfig, admitted: datetime) -> Breaker:
    """A call admitted at `admitted` failed. CLOSED: counted, and the threshold opens it.
    HALF_OPEN: a probe of this round failing opens it again, with a fresh wait. OPEN, or a call
    from before this round: recorded, nothing moves — in particular not `next_attempt`."""
    match breaker.status:
        case BreakerStatus.CLOSED:
            count = breaker.failure_count + 1
            if count >= config.failure_threshold:
                return _opened(breaker, now, config, count)
            return replace(breaker, failure_count=count, last_failure=now)
        case BreakerStatus.OPEN:
            return replace(breaker, last_failure=now)
    if not _in_round(breaker, admitted):
        return replace(breaker, last_failure=now)
    return _opened(breaker, now, config, breaker.failure_count + 1)


def released(breaker: Breaker, admitted: datetime) -> Breaker:
    """A call admitted at `admitted` ended saying nothing of the upstream (an answer relaying
    another service's failure): neither a success nor a failure. A probe of this round gives
    its place back, so the round can still decide."""
    if breaker.status is BreakerStatus.HALF_OPEN and _in_round(breaker, admitted):
        return replace(breaker, probes=max(breaker.probes - 1, breaker.probes_passed))
    return breaker
