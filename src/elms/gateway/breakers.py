"""The gateway's breakers, kept in `circuit_breaker_states` (architecture.md §5).

Each gateway holds a copy of every breaker's state, refreshed from the table by a background job;
a change (a failure, opening, a probe, closing) is made under the row's lock from the table's
current state, so replicas count one upstream's failures together and agree on its state. A
success on a healthy upstream writes nothing: the hot path stays free of database writes."""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

from elms.core.clock import iso_utc, utcnow
from elms.core.database import Database
from elms.core.errors import DomainError
from elms.core.service_client import ServiceUnavailable
from elms.gateway import repository as repo
from elms.gateway.breaker import Breaker, BreakerConfig, BreakerStatus, admit, failed, succeeded

T = TypeVar("T")


class BreakerOpen(DomainError):
    pass


def _from_row(row: Any) -> Breaker:
    return Breaker(
        name=row["breaker_name"],
        status=BreakerStatus(row["state"]),
        failure_count=row["failure_count"] or 0,
        last_failure=row["last_failure_time"],
        last_success=row["last_success_time"],
        next_attempt=row["next_attempt_time"],
        changed_at=row["state_changed_at"],
    )


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

    async def admit(self, name: str) -> None:
        """Raise 503 while the upstream's breaker is open; let a probe through once it may."""
        self.counts[f"{name}:calls"] += 1
        allowed, after = admit(self.breakers[name], utcnow())
        if after.status != self.breakers[name].status:
            await self._change(name, lambda current, now: admit(current, now)[1])
        elif not allowed:
            self.counts[f"{name}:rejected"] += 1
            raise BreakerOpen(
                f"The {name} service is unavailable (circuit open)",
                code="SERVICE_UNAVAILABLE",
                status=503,
                extra={"retryAfter": iso_utc(after.next_attempt) if after.next_attempt else None},
            )

    async def guard(
        self, name: str, call: Callable[[], Awaitable[T]], failed: Callable[[T], bool]
    ) -> T:
        """Make `call` to the upstream through its breaker: refused at once (503) while it is
        open; an unreachable upstream, or an answer `failed` says is a failure (a 5xx), counts
        against it; anything else closes it."""
        await self.admit(name)
        try:
            answer = await call()
        except ServiceUnavailable:
            await self.failed(name)
            raise
        if failed(answer):
            await self.failed(name)
        else:
            await self.succeeded(name)
        return answer

    async def succeeded(self, name: str) -> None:
        current = self.breakers[name]
        if current.status is BreakerStatus.CLOSED and current.failure_count == 0:
            return
        await self._change(name, succeeded)

    async def failed(self, name: str) -> None:
        self.counts[f"{name}:failures"] += 1
        await self._change(name, lambda current, now: failed(current, now, self.config))

    async def _change(self, name: str, move: Any) -> None:
        assert self.db is not None
        now = utcnow()
        async with self.db.transaction() as conn:
            row = await repo.lock_breaker(conn, name)
            current = _from_row(row) if row else Breaker(name, changed_at=now)
            after: Breaker = move(current, now)
            await repo.save_breaker(conn, self._values(after, now))
        self.breakers[name] = after

    def _values(self, breaker: Breaker, now: datetime) -> dict[str, Any]:
        name = breaker.name
        return {
            "breaker_name": name,
            "state": breaker.status.value,
            "failure_count": breaker.failure_count,
            "last_failure_time": breaker.last_failure,
            "last_success_time": breaker.last_success,
            "next_attempt_time": breaker.next_attempt,
            "state_changed_at": breaker.changed_at or now,
            "configuration": self.config.as_dict(),
            "metrics": {
                "calls": self.counts[f"{name}:calls"],
                "failures": self.counts[f"{name}:failures"],
                "rejected": self.counts[f"{name}:rejected"],
            },
            "updated_at": now,
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
                "metrics": {
                    "calls": self.counts[f"{b.name}:calls"],
                    "failures": self.counts[f"{b.name}:failures"],
                    "rejected": self.counts[f"{b.name}:rejected"],
                },
            }
            for b in self.breakers.values()
        ]
