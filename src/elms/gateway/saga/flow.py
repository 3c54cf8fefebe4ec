"""How a saga moves (architecture.md §4), pure: time is passed in.

The engine asks `next_move` what to do, does it (a step's action or its compensation, over
HTTP), reports what happened (`step_started`, `step_succeeded`, `step_refused`, `step_failed`
and their `undo_` twins) and saves the state it gets back. All ordering lives here:

- forward steps run in their order; each one's outcome is DONE, REFUSED (the service said no) or
  FAILED (no answer, a 5xx, an open breaker), and a FAILED one may have acted without our knowing
  (`uncertain`: a timeout, or a crash while it was in flight);
- a refusal, or retries running out, compensates the completed steps in reverse order; a step
  whose outcome is uncertain is first run again (the same idempotency key replays what it did,
  or does it now), so nothing it might have done is left behind;
- the pivot is the point of no return: once it is done the saga only moves forward, retrying
  whatever fails; a refusal after it is retried too, because money has moved; a step after it
  whose service's circuit breaker is open waits for the breaker (`step_deferred`) without
  spending a retry: nothing reached the service;
- before the pivot, a saga past its `timeout_at` compensates (status TIMEOUT at the end);
- with the MANUAL policy the saga stops FAILED instead of compensating, until an operator
  cancels it (which compensates).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from elms.core.errors import DomainError
from elms.gateway.saga.state import (
    FORWARD,
    Plan,
    Policy,
    Reason,
    SagaState,
    SagaStatus,
    StepRecord,
    StepStatus,
)

MAX_BACKOFF_SECONDS = 30.0

_ENDING = {
    Reason.REFUSED: SagaStatus.COMPENSATED,
    Reason.RETRIES_EXHAUSTED: SagaStatus.COMPENSATED,
    Reason.TIMEOUT: SagaStatus.TIMEOUT,
    Reason.CANCELLED: SagaStatus.CANCELLED,
}


# --- what to do next ----------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """Run a forward step (again, if an earlier attempt failed or its outcome is unknown)."""

    step: str


@dataclass(frozen=True)
class Resolve:
    """Run a step whose outcome is unknown again, to learn it before compensating."""

    step: str


@dataclass(frozen=True)
class Undo:
    """Run the compensation of a completed step."""

    step: str


@dataclass(frozen=True)
class TimeOut:
    """The saga is past its timeout before its point of no return: compensate."""


@dataclass(frozen=True)
class Finish:
    status: SagaStatus


@dataclass(frozen=True)
class Stop:
    """Nothing to do: the saga has ended."""


Move = Run | Resolve | Undo | TimeOut | Finish | Stop


class Decision(StrEnum):
    """What the engine does after a step failed without a refusal."""

    RETRY = "RETRY"  # after the backoff, ask `next_move` again
    CONTINUE = "CONTINUE"  # the state moved on (compensation began): ask `next_move` now
    PARK = "PARK"  # save and stop; the recovery worker resumes it later
    # Save, wait until the step's service's breaker admits calls (`breaker_wait_seconds`), then
    # ask `next_move` again: no retry spent.
    WAIT = "WAIT"


def start(
    plan: Plan,
    saga_id: str,
    data: dict[str, Any],
    now: datetime,
    timeout: timedelta,
    max_retries: int,
    policy: Policy = Policy.AUTOMATIC,
) -> SagaState:
    return SagaState(
        saga_id=saga_id,
        saga_type=plan.saga_type,
        status=SagaStatus.STARTED,
        current_step=plan.steps[0],
        data=data,
        started_at=now,
        timeout_at=now + timeout,
        max_retries=max_retries,
        policy=policy,
    )


def passed_pivot(plan: Plan, state: SagaState) -> bool:
    if plan.pivot is None:
        return False
    record = state.record(plan.pivot)
    return record is not None and record.status is StepStatus.COMPLETED


def _open_step(state: SagaState) -> StepRecord | None:
    """A forward step called but not settled: in flight at a crash, or failing."""
    return next((r for r in state.steps if r.status is StepStatus.STARTED), None)


def pending_compensations(plan: Plan, state: SagaState) -> list[str]:
    """Completed steps that can be undone and are not yet, latest first."""
    pending = []
    for step in reversed(plan.steps):
        record = state.record(step)
        undone = state.undo_record(step)
        if (
            step in plan.compensable
            and record is not None
            and record.status is StepStatus.COMPLETED
            and (undone is None or undone.status is not StepStatus.COMPLETED)
        ):
            pending.append(step)
    return pending


def next_move(plan: Plan, state: SagaState, now: datetime) -> Move:
    if state.finished:
        return Stop()
    if state.status is SagaStatus.COMPENSATING:
        open_step = _open_step(state)
        if open_step is not None:
            return Resolve(open_step.name)
        pending = pending_compensations(plan, state)
        if pending:
            return Undo(pending[0])
        assert state.reason is not None
        return Finish(_ENDING[state.reason])
    pending = [s for s in plan.steps if _status(state, s) is not StepStatus.COMPLETED]
    if not pending:
        return Finish(SagaStatus.COMPLETED)  # done in time or not, it is done
    if now >= state.timeout_at and not passed_pivot(plan, state):
        return TimeOut()
    return Run(pending[0])


def _status(state: SagaState, step: str) -> StepStatus | None:
    record = state.record(step)
    return record.status if record is not None else None


# --- what happened ------------------------------------------------------------------------


def _with_record(records: tuple[StepRecord, ...], record: StepRecord) -> tuple[StepRecord, ...]:
    kept = tuple(r for r in records if r.name != record.name)
    return (*kept, record)


def step_started(state: SagaState, step: str, now: datetime) -> SagaState:
    earlier = state.record(step)
    record = (
        replace(
            earlier,
            status=StepStatus.STARTED,
            attempts=earlier.attempts + 1,
            in_flight=True,
            # The last attempt was never answered, as far as the row knows: it may have acted.
            uncertain=earlier.uncertain or earlier.in_flight,
        )
        if earlier is not None
        else StepRecord(step, StepStatus.STARTED, now, in_flight=True)
    )
    status = SagaStatus.IN_PROGRESS if state.status is SagaStatus.STARTED else state.status
    return replace(state, status=status, current_step=step, steps=_with_record(state.steps, record))


def step_succeeded(
    plan: Plan, state: SagaState, step: str, result: Any, now: datetime
) -> SagaState:
    record = state.record(step)
    assert record is not None
    done = replace(
        record, status=StepStatus.COMPLETED, ended_at=now, result=result, in_flight=False
    )
    after = replace(state, steps=_with_record(state.steps, done), retry_count=0)
    if state.status is SagaStatus.COMPENSATING:
        if step != plan.pivot:
            return after  # resolved: it acted, so it is compensated with the others
        # The point of no return was passed after all: the money moved, so finish the saga.
        return replace(after, status=SagaStatus.IN_PROGRESS, reason=None, error=None)
    return replace(after, error=None)


def step_refused(
    plan: Plan, state: SagaState, step: str, error: dict[str, Any], now: datetime
) -> tuple[SagaState, Decision]:
    if plan.after_pivot(step):
        # Past the point of no return a refusal cannot be answered by undoing: keep trying
        # (an event still on its way, an operator's fix) and make the refusal visible.
        return step_failed(plan, state, step, error, False, now)
    record = state.record(step)
    assert record is not None
    refused = replace(
        record,
        status=StepStatus.FAILED,
        ended_at=now,
        error=error,
        uncertain=False,
        in_flight=False,
    )
    after = replace(state, steps=_with_record(state.steps, refused), retry_count=0)
    if state.status is SagaStatus.COMPENSATING:
        return after, Decision.CONTINUE  # resolved: it did nothing
    failure = {**error, "step": step}
    return begin_compensation(plan, after, Reason.REFUSED, failure, now), Decision.CONTINUE


def backoff_seconds(retry_count: int, base_seconds: float) -> float:
    return min(base_seconds * 2**retry_count, MAX_BACKOFF_SECONDS)


def step_failed(
    plan: Plan,
    state: SagaState,
    step: str,
    error: dict[str, Any],
    uncertain: bool,
    now: datetime,
) -> tuple[SagaState, Decision]:
    """No answer, a 5xx or an open breaker: retry up to `max_retries`, then compensate (before
    the pivot) or park until recovery (after it, or while compensating)."""
    record = state.record(step)
    assert record is not None
    failing = replace(record, error=error, uncertain=record.uncertain or uncertain, in_flight=False)
    failure = {**error, "step": step}
    after = replace(state, steps=_with_record(state.steps, failing))
    if state.status is not SagaStatus.COMPENSATING:
        # Visible while it retries or waits; while compensating, the error stays the cause.
        after = replace(after, error=failure)
    if state.retry_count < state.max_retries:
        return replace(after, retry_count=state.retry_count + 1), Decision.RETRY
    if state.status is SagaStatus.COMPENSATING or plan.after_pivot(step):
        return after, Decision.PARK
    exhausted = replace(after, retry_count=0)
    return (
        begin_compensation(plan, exhausted, Reason.RETRIES_EXHAUSTED, failure, now),
        Decision.CONTINUE,
    )


def step_deferred(
    plan: Plan,
    state: SagaState,
    step: str,
    error: dict[str, Any],
    retry_after: datetime | None,
    now: datetime,
    longest_wait: timedelta,
) -> tuple[SagaState, Decision]:
    """A step past the pivot whose call its service's circuit breaker refused: nothing reached
    the service, so it is neither a failure of the step nor a retry spent. The step stays
    STARTED (not in flight), the error visible, and the saga waits for the breaker: in its task
    when the breaker admits calls again within `longest_wait`, else parked for recovery (which
    finds the breaker as it is then). Before the pivot an open breaker is a failure like any
    other (`step_failed`): failing fast is what the breaker is for."""
    assert plan.after_pivot(step), step
    record = state.record(step)
    assert record is not None
    waiting = replace(record, error=error, in_flight=False)
    after = replace(state, steps=_with_record(state.steps, waiting), error={**error, "step": step})
    if retry_after is not None and retry_after - now > longest_wait:
        return after, Decision.PARK
    return after, Decision.WAIT


def breaker_wait_seconds(retry_after: datetime | None, now: datetime, base_seconds: float) -> float:
    """How long a step waiting for a breaker sleeps before calling again: until the breaker's
    wait ends, and at least `base_seconds` (a HALF_OPEN breaker whose probes are all out has no
    end to wait for: its probes decide any moment)."""
    if retry_after is None:
        return base_seconds
    return max((retry_after - now).total_seconds(), base_seconds)


def _settle_open_steps(plan: Plan, state: SagaState, now: datetime) -> SagaState:
    """On the way into compensation: an unfinished step is given up on (FAILED) when it surely
    did nothing, or when it only reads; otherwise it stays open, to be resolved first."""
    steps = state.steps
    for record in state.steps:
        if record.status is StepStatus.STARTED and not (
            (record.uncertain or record.in_flight) and plan.needs_resolution(record.name)
        ):
            given_up = replace(record, status=StepStatus.FAILED, ended_at=now, in_flight=False)
            steps = _with_record(steps, given_up)
    return replace(state, steps=steps)


def begin_compensation(
    plan: Plan, state: SagaState, reason: Reason, error: dict[str, Any] | None, now: datetime
) -> SagaState:
    state = _settle_open_steps(plan, state, now)
    if state.policy is Policy.MANUAL:
        # An operator decides: the saga stops here until `cancel` compensates it.
        return replace(
            state,
            status=SagaStatus.FAILED,
            reason=reason,
            error={**(error or {}), "compensationPending": True},
            ended_at=now,
            retry_count=0,
        )
    return replace(
        state,
        status=SagaStatus.COMPENSATING,
        reason=reason,
        error=error if error is not None else state.error,
        retry_count=0,
    )


def timed_out(plan: Plan, state: SagaState, now: datetime) -> SagaState:
    error = {
        "code": "SAGA_TIMEOUT",
        "message": f"Saga did not finish by {state.timeout_at.isoformat()}Z",
        "step": state.current_step,
    }
    return begin_compensation(plan, state, Reason.TIMEOUT, error, now)


def undo_started(state: SagaState, step: str, now: datetime) -> SagaState:
    earlier = state.undo_record(step)
    record = (
        replace(earlier, status=StepStatus.STARTED, attempts=earlier.attempts + 1, error=None)
        if earlier is not None
        else StepRecord(step, StepStatus.STARTED, now)
    )
    return replace(
        state, current_step=step, compensations=_with_record(state.compensations, record)
    )


def undo_succeeded(state: SagaState, step: str, result: Any, now: datetime) -> SagaState:
    record = state.undo_record(step)
    assert record is not None
    done = replace(record, status=StepStatus.COMPLETED, ended_at=now, result=result)
    return replace(state, compensations=_with_record(state.compensations, done), retry_count=0)


def undo_refused(state: SagaState, step: str, error: dict[str, Any], now: datetime) -> SagaState:
    """A compensation the service refuses cannot be retried into success: an operator must look
    (and may cancel the saga again, which retries what is left)."""
    record = state.undo_record(step)
    assert record is not None
    refused = replace(record, status=StepStatus.FAILED, ended_at=now, error=error)
    return replace(
        state,
        status=SagaStatus.FAILED,
        compensations=_with_record(state.compensations, refused),
        error={**(state.error or {}), "compensationError": {**error, "step": step}},
        ended_at=now,
        retry_count=0,
    )


def undo_failed(
    state: SagaState, step: str, error: dict[str, Any], now: datetime
) -> tuple[SagaState, Decision]:
    record = state.undo_record(step)
    assert record is not None
    after = replace(
        state, compensations=_with_record(state.compensations, replace(record, error=error))
    )
    if state.retry_count < state.max_retries:
        return replace(after, retry_count=state.retry_count + 1), Decision.RETRY
    return after, Decision.PARK


def finish(state: SagaState, status: SagaStatus, now: datetime) -> SagaState:
    error = None if status is SagaStatus.COMPLETED else state.error
    return replace(state, status=status, ended_at=now, retry_count=0, error=error)


# --- an operator's cancel ------------------------------------------------------------------


def cancel(plan: Plan, state: SagaState, now: datetime) -> SagaState:
    """Stop a saga and compensate it (api.md §5). A saga that ended is 409; so is one at or past
    its point of no return. A FAILED one (the MANUAL policy, or a refused compensation) is
    compensated now. One already compensating is left as it is."""
    if state.status is SagaStatus.COMPENSATING:
        return state
    if state.status not in FORWARD and state.status is not SagaStatus.FAILED:
        raise DomainError(
            f"Saga {state.saga_id} has ended ({state.status})",
            code="SAGA_NOT_RUNNING",
            status=409,
            extra={"sagaStatus": state.status.value},
        )
    pivot = state.record(plan.pivot) if plan.pivot is not None else None
    # Past the pivot, or with it in flight, only going forward is left. A saga stopped FAILED
    # with its pivot in doubt may be cancelled: the pivot is resolved first, and if it acted
    # the saga completes instead.
    if pivot is not None and (
        pivot.status is StepStatus.COMPLETED
        or (pivot.status is StepStatus.STARTED and state.status in FORWARD)
    ):
        raise DomainError(
            f"Saga {state.saga_id} has reached {plan.pivot}, its point of no return",
            code="SAGA_PAST_POINT_OF_NO_RETURN",
            status=409,
            extra={"sagaStatus": state.status.value},
        )
    error = {"code": "SAGA_CANCELLED", "message": "Cancelled by an operator"}
    return replace(
        _settle_open_steps(plan, state, now),
        status=SagaStatus.COMPENSATING,
        reason=Reason.CANCELLED,
        error={**(state.error or {}), **error},
        ended_at=None,
        retry_count=0,
        policy=Policy.AUTOMATIC,
    )
