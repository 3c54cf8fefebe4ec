"""The gateway's breakers, kept in `circuit_breaker_states` (architecture.md §5).

Each gateway holds a copy of every breaker's state, refreshed from the table by a background job;
a change (a failure, opening, a probe admitted or answered, closing) is made under the row's lock
from the table's current state, so replicas count one upstream's failures together, share its
HALF_OPEN probes and agree on its state. The probes of a HALF_OPEN round are counted in the row's
`metrics` (the table's columns are fixed by the spec). A success on a healthy upstream writes
nothing: the hot path stays free of database writes.

What counts against an upstream is its own failure: no connection, a timeout, a 5xx of its own.
A 5xx marked `x-elms-relayed-failure` passes on another service's failure (the upstream itself
is well) and counts neither way (`own_failure`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

import structlog

from elms.core.clock import iso_utc, utcnow
from elms.core.database import Database
from elms.core.errors import DomainError
from elms.core.service_client import ServiceUnavailable
from elms.gateway import repository as repo
from elms.gateway.breaker import (
    Breaker,
    BreakerConfig,
    BreakerStatus,
    admit,
    failed,
    released,
    retry_after,
    succeeded,
)

log = structlog.get_logger("elms.gateway.breakers")


class Answer(Protocol):
    def summary(self) -> str: ...


T = TypeVar("T", bound=Answer)


@dataclass
class BreakerOpen(DomainError):
    # When the breaker may admit a call again (None: soon, its probes are deciding).
    retry_after: datetime | None = None


def own_failure(status: int, relayed: bool) -> bool | None:
    """What an answer says of the upstream that gave it, for its breaker: a 5xx of its own is a
    failure (True), any other answer a success (False); a 5xx that relays another service's
    failure (`x-elms-relayed-failure: true`) says nothing of it (None)."""
    if status < 500:
        return False
    return None if relayed else True


def _from_row(row: Any) -> Breaker:
    metrics = row["metrics"] if isinstance(row["metrics"], dict) else {}
    return Breaker(
        name=row["breaker_name"],
        status=BreakerStatus(row["state"]),
        failure_count=row["failure_count"] or 0,
        last_failure=row["last_failure_time"],
        last_success=row["last_success_time"],
        next_attempt=row["next_attempt_time"],
        changed_at=row["state_changed_at"],
        probes=int(metrics.get("halfOpenProbes", 0)),
        probes_passed=int(metrics.get("halfOpenProbesPassed", 0)),
    )


Move = Callable[[Breaker], tuple[bool, Breaker]]


class BreakerBoard:
    def __init__(self, names: list[str], config: BreakerConfig) -> None:
        self.config = config
        self.breakers = {name: Breaker(name) for name in names}
        self.counts: Counter[str] = Counter()
        self.db: Database | None = None

    async def refresh(self) -> int:
        """Take up what other replicas (or an earlier run) decided."""
        assert self.db is not None
        async with self.db.connection() as conn:
            rows = await repo.list_breakers(conn)
        for row in rows:
            if row["breaker_name"] in self.breakers:
                self.breakers[row["breaker_name"]] = _from_row(row)
        return 0

    async def admit(self, name: str, now: datetime | None = None) -> datetime:
        """Raise 503 while the upstream's breaker is open (or its probes are all out); let a
        probe through once it may. Returns the moment the call was admitted, which its outcome
        is reported with."""
        now = now or utcnow()
        self.counts[f"{name}:calls"] += 1
        current = self.breakers[name]
        allowed, after = admit(current, now, self.config)
        if after.state() != current.state():
            # A wait ended or a probe is taken: decided on the shared row, under its lock.
            allowed, after = await self._change(name, now, lambda b: admit(b, now, self.config))
        if not allowed:
            self.counts[f"{name}:rejected"] += 1
            until = retry_after(after)
            raise BreakerOpen(
                f"The {name} service is unavailable (circuit open)",
                code="SERVICE_UNAVAILABLE",
                status=503,
                extra={"retryAfter": iso_utc(until) if until else None},
                retry_after=until,
            )
        return now

    async def guard(
        self,
        name: str,
        call: Callable[[], Awaitable[T]],
        failed: Callable[[T], bool | None],
        clock: Callable[[], datetime] = utcnow,
    ) -> T:
        """Make `call` to the upstream through its breaker: refused at once (503) while it is
        open; an unreachable upstream, or an answer `failed` says is a failure (a 5xx of its
        own), counts against it; an answer it says nothing of (None: a relayed failure) counts
        neither way; anything else is a success. `clock` is the time the breaker is judged by
        (the saga engine passes its own, which tests move)."""
        admitted = await self.admit(name, clock())
        try:
            answer = await call()
        except ServiceUnavailable as error:
            await self.failed(name, admitted, clock(), f"{type(error).__name__}: {error}")
            raise
        except Exception:
            await self.released(name, admitted, clock())
            raise
        verdict = failed(answer)
        if verdict is None:
            await self.released(name, admitted, clock())
        elif verdict:
            await self.failed(name, admitted, clock(), answer.summary())
        else:
            await self.succeeded(name, admitted, clock())
        return answer

    async def succeeded(self, name: str, admitted: datetime, now: datetime | None = None) -> None:
        now = now or utcnow()
        current = self.breakers[name]
        if succeeded(current, now, self.config, admitted).state() == current.state():
            return  # nothing moves (a healthy upstream): nothing written
        await self._change(name, now, lambda b: (True, succeeded(b, now, self.config, admitted)))

    async def failed(
        self, name: str, admitted: datetime, now: datetime | None = None, cause: str = ""
    ) -> None:
        """`cause` (what the upstream did) is logged when this failure opens the breaker."""
        now = now or utcnow()
        self.counts[f"{name}:failures"] += 1
        await self._change(
            name, now, lambda b: (True, failed(b, now, self.config, admitted)), cause
        )

    async def released(self, name: str, admitted: datetime, now: datetime | None = None) -> None:
        """A call that says nothing of the upstream gives back its probe's place, if it had one."""
        current = self.breakers[name]
        if released(current, admitted).state() == current.state():
            return
        await self._change(name, now or utcnow(), lambda b: (True, released(b, admitted)))

    async def _change(
        self, name: str, now: datetime, move: Move, cause: str = ""
    ) -> tuple[bool, Breaker]:
        assert self.db is not None
        async with self.db.transaction() as conn:
            row = await repo.lock_breaker(conn, name)
            current = _from_row(row) if row else Breaker(name, changed_at=now)
            allowed, after = move(current)
            await repo.save_breaker(conn, self._values(after, now))
        self.breakers[name] = after
        if after.status is not current.status:
            # Every move is logged once, by the gateway that made it under the row's lock: an
            # operator (and the fault-injection suite) can tell why a breaker opened, and why
            # its probes opened it again.
            log.warning(
                "circuit breaker moved",
                breaker=name,
                before=current.status.value,
                after=after.status.value,
                cause=cause if after.status is BreakerStatus.OPEN else None,
            )
        return allowed, after

    def _metrics(self, breaker: Breaker) -> dict[str, int]:
        """This gateway's counts of calls, failures and rejections, and the probes of the
        breaker's HALF_OPEN round (shared by every gateway: read back under the row's lock)."""
        name = breaker.name
        return {
            "calls": self.counts[f"{name}:calls"],
            "failures": self.counts[f"{name}:failures"],
            "rejected": self.counts[f"{name}:rejected"],
            "halfOpenProbes": breaker.probes,
            "halfOpenProbesPassed": breaker.probes_passed,
        }

    def _values(self, breaker: Breaker, now: datetime) -> dict[str, Any]:
        return {
            "breaker_name": breaker.name,
            "state": breaker.status.value,
            "failure_count": breaker.failure_count,
            "last_failure_time": breaker.last_failure,
            "last_success_time": breaker.last_success,
            "next_attempt_time": breaker.next_attempt,
            "state_changed_at": breaker.changed_at or now,
            "configuration": self.config.as_dict(),
            "metrics": self._metrics(breaker),
            "updated_at": utcnow(),
        }

    def view(self) -> list[dict[str, Any]]:
        return [
            {
                "name": b.name,
                "state": b.status.value,
                "failureCount": b.failure_count,
                "lastFailureTime": b.last_failure,
                "lastSuccessTime": b.last_success,
                "nextAttemptTime": b.next_attempt,
                "stateChangedAt": b.changed_at,
                "configuration": self.config.as_dict(),
                "metrics": self._metrics(b),
            }
            for b in self.breakers.values()
        ]
