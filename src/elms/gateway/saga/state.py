"""What a saga is made of (architecture.md §4): its statuses, its plan, its step records and
its state, as `saga_states` keeps them. How it moves is in flow.py."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from elms.core.clock import as_naive_utc


class SagaStatus(StrEnum):
    STARTED = "STARTED"
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"
    COMPENSATING = "COMPENSATING"
    COMPENSATED = "COMPENSATED"
    FAILED = "FAILED"
    TIMEOUT = "TIMEOUT"
    CANCELLED = "CANCELLED"


RUNNING = frozenset({SagaStatus.STARTED, SagaStatus.IN_PROGRESS, SagaStatus.COMPENSATING})
FORWARD = frozenset({SagaStatus.STARTED, SagaStatus.IN_PROGRESS})


class StepStatus(StrEnum):
    STARTED = "STARTED"  # called, outcome not known yet
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"  # refused, or given up on: it did nothing


class Reason(StrEnum):
    """Why a saga compensates; it decides the status it ends in."""

    REFUSED = "REFUSED"
    RETRIES_EXHAUSTED = "RETRIES_EXHAUSTED"
    TIMEOUT = "TIMEOUT"
    CANCELLED = "CANCELLED"


class Policy(StrEnum):
    AUTOMATIC = "AUTOMATIC"
    MANUAL = "MANUAL"


@dataclass(frozen=True)
class Plan:
    """What the state machine needs of a saga type: its step names in order, which of them can
    be undone, and its pivot (None: every step can be compensated)."""

    saga_type: str
    steps: tuple[str, ...]
    compensable: frozenset[str]
    pivot: str | None = None

    def after_pivot(self, step: str) -> bool:
        return self.pivot is not None and self.steps.index(step) > self.steps.index(self.pivot)

    def needs_resolution(self, step: str) -> bool:
        """Whether a step whose outcome is unknown must be run again before compensating: one
        that can be undone (to learn what to undo) and the pivot (if it acted, the saga goes on).
        Any other step before the pivot only reads, so nothing it did needs undoing."""
        return step in self.compensable or step == self.pivot

    def forward_only_steps(self) -> tuple[str, ...]:
        """The steps after the point of no return: a saga there is never compensated."""
        return tuple(s for s in self.steps if self.after_pivot(s))


@dataclass(frozen=True)
class StepRecord:
    name: str
    status: StepStatus
    started_at: datetime
    ended_at: datetime | None = None
    attempts: int = 1
    result: Any = None
    error: dict[str, Any] | None = None
    # An attempt may have acted without our knowing: it timed out, or a new attempt began while
    # an earlier one's answer was never recorded (its gateway died, or the saga was taken over).
    uncertain: bool = False
    # Called and not answered yet, as far as the saga's row knows.
    in_flight: bool = False

    def wire(self) -> dict[str, Any]:
        """As kept in `saga_states` and shown by the saga API; `duration` in milliseconds."""
        return {
            "stepName": self.name,
            "status": self.status.value,
            "startTime": self.started_at,
            "endTime": self.ended_at,
            "duration": milliseconds(self.started_at, self.ended_at),
            "attempts": self.attempts,
            "result": self.result,
            "error": self.error,
            "uncertain": self.uncertain,
            "inFlight": self.in_flight,
        }

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> StepRecord:
        return cls(
            name=wire["stepName"],
            status=StepStatus(wire["status"]),
            started_at=parse_moment(wire["startTime"]),
            ended_at=parse_moment(wire["endTime"]) if wire.get("endTime") else None,
            attempts=wire.get("attempts", 1),
            result=wire.get("result"),
            error=wire.get("error"),
            uncertain=wire.get("uncertain", False),
            in_flight=wire.get("inFlight", False),
        )


def milliseconds(start: datetime, end: datetime | None) -> int | None:
    return None if end is None else round((end - start).total_seconds() * 1000)


def parse_moment(text: str) -> datetime:
    """An ISO 8601 moment as written by the JSON codec, back to naive UTC."""
    return as_naive_utc(datetime.fromisoformat(text))


@dataclass(frozen=True)
class SagaState:
    saga_id: str
    saga_type: str
    status: SagaStatus
    current_step: str
    data: dict[str, Any]
    started_at: datetime
    timeout_at: datetime
    steps: tuple[StepRecord, ...] = ()
    compensations: tuple[StepRecord, ...] = ()
    reason: Reason | None = None
    error: dict[str, Any] | None = None
    retry_count: int = 0
    max_retries: int = 3
    policy: Policy = Policy.AUTOMATIC
    ended_at: datetime | None = None
    version: int = 1

    @property
    def finished(self) -> bool:
        return self.status not in RUNNING

    def record(self, step: str) -> StepRecord | None:
        return next((r for r in self.steps if r.name == step), None)

    def undo_record(self, step: str) -> StepRecord | None:
        return next((r for r in self.compensations if r.name == step), None)

    def results(self) -> dict[str, Any]:
        """What each completed step answered, by step name: the later steps' input."""
        return {r.name: r.result for r in self.steps if r.status is StepStatus.COMPLETED}
