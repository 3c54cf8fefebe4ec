"""How a saga type is declared: an ordered list of steps, each an action and, where it can be
undone, a compensation (style.md habit 7). Retries, timeouts, heartbeats, persistence and the
order of compensation belong to the engine, never to a declaration."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Protocol

from elms.gateway.saga.state import Plan


class StepRefused(Exception):
    """The service answered with a refusal (4xx): a business answer, never retried before the
    pivot."""

    def __init__(self, status: int, error: dict[str, Any]) -> None:
        super().__init__(f"{status} {error.get('code')}: {error.get('message')}")
        self.status = status
        self.error = {**error, "status": status}

    @property
    def code(self) -> str | None:
        return self.error.get("code")


class StepUnavailable(Exception):
    """No answer, a 5xx or an open breaker: worth retrying. `uncertain` when the service may
    have acted anyway (it took the request and did not answer in time)."""

    def __init__(self, error: dict[str, Any], uncertain: bool) -> None:
        super().__init__(f"{error.get('code')}: {error.get('message')}")
        self.error = error
        self.uncertain = uncertain


class Caller(Protocol):
    async def __call__(
        self,
        service: str,
        method: str,
        path: str,
        body: Any = None,
        params: dict[str, Any] | None = None,
    ) -> Any: ...


@dataclass(frozen=True)
class StepContext:
    """What a step sees: the saga's input, what the earlier steps answered, and a caller whose
    mutating requests carry this call's idempotency key (`<sagaId>:<step>`, or
    `<sagaId>:<step>:undo` for a compensation)."""

    saga_id: str
    data: Mapping[str, Any]
    results: Mapping[str, Any]
    call: Caller
    # Why the saga compensates (its error), for a compensation to say so.
    cause: Mapping[str, Any] | None = None


StepAction = Callable[[StepContext], Awaitable[Any]]
# Reads what a completed saga answers the request that started it, from its final result.
AnswerReader = Callable[[Any, Caller], Awaitable[Any]]


@dataclass(frozen=True)
class Step:
    name: str
    action: StepAction
    compensation: StepAction | None = None


@dataclass(frozen=True)
class SagaDefinition:
    saga_type: str
    steps: tuple[Step, ...]
    # The answer of a completed saga, from its id and its steps' results (by step name).
    final_result: Callable[[str, Mapping[str, Any]], Any]
    # The point of no return: after it the saga only moves forward.
    pivot: str | None = None
    # When the answer to the request that started the saga holds more than the saga keeps (the
    # loan's schedule), how to read it (GETs only); None: the final result is the answer.
    answer: AnswerReader | None = None

    @cached_property
    def plan(self) -> Plan:
        return Plan(
            saga_type=self.saga_type,
            steps=tuple(s.name for s in self.steps),
            compensable=frozenset(s.name for s in self.steps if s.compensation is not None),
            pivot=self.pivot,
        )

    def step(self, name: str) -> Step:
        return next(s for s in self.steps if s.name == name)


def refusal(code: str, message: str, status: int = 422, **extra: Any) -> StepRefused:
    """A refusal the saga itself decides on (a rule it checks between services)."""
    return StepRefused(status, {"code": code, "message": message, "details": [], **extra})
