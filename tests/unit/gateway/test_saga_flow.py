"""The saga state machine (gateway/saga/flow.py), driven against a model of the services.

The model knows what the state machine cannot: whether a call whose answer was lost acted
anyway. Services are idempotent by the step's key, so a step run again after it acted answers
as it did the first time. Whatever the outcomes, a saga must end with every step that acted
either kept (COMPLETED) or undone (compensated), never half."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from elms.core.errors import DomainError
from elms.gateway.saga import flow
from elms.gateway.saga.flow import Decision
from elms.gateway.saga.state import (
    Plan,
    Policy,
    Reason,
    SagaState,
    SagaStatus,
    StepRecord,
    StepStatus,
)

T0 = datetime(2026, 11, 25, 12, 0, 0)
TIMEOUT = timedelta(minutes=5)
MAX_RETRIES = 3

DONE, REFUSED, LOST, UNREACHED, ACTED_THEN_LOST = "done", "refused", "lost", "unreached", "acted"
# The gateway dies during the call (which acted, or not); another one takes the saga over from
# its row as last written, before the call.
CRASH, ACTED_THEN_CRASH = "crash", "acted-crash"
# The step's service's circuit breaker refuses the call (nothing is sent): open for a moment
# (the saga waits in its task) or for long (it parks until recovery).
BREAKER_OPEN, BREAKER_OPEN_LONG = "breaker-open", "breaker-open-long"
OUTCOME = st.sampled_from(
    [
        DONE,
        DONE,
        DONE,
        REFUSED,
        UNREACHED,
        LOST,
        ACTED_THEN_LOST,
        CRASH,
        ACTED_THEN_CRASH,
        BREAKER_OPEN,
        BREAKER_OPEN_LONG,
    ]
)
# How long a step after the pivot waits for a breaker in its task before parking instead.
LONGEST_WAIT = timedelta(seconds=30)
# Runs of one outcome (a service down for a while) are as likely as mixed ones.
OUTCOMES = st.lists(st.tuples(OUTCOME, st.integers(1, 5)), max_size=12).map(
    lambda runs: [outcome for outcome, times in runs for _ in range(times)]
)


def plan_of(steps: int, compensable: set[int], pivot: int | None) -> Plan:
    names = tuple(f"S{i}" for i in range(steps))
    return Plan(
        saga_type="TEST",
        steps=names,
        compensable=frozenset(names[i] for i in compensable if i < steps),
        pivot=names[pivot] if pivot is not None and pivot < steps else None,
    )


@dataclass
class World:
    """The services as they really are, and what the saga asked of them."""

    outcomes: list[str]
    acted: set[str] = field(default_factory=set)
    undone: list[str] = field(default_factory=list)
    forward_calls: list[str] = field(default_factory=list)

    def next_outcome(self) -> str:
        # Once the drawn outcomes are used up the world is healthy again.
        return self.outcomes.pop(0) if self.outcomes else DONE


def drive(
    plan: Plan,
    world: World,
    *,
    policy: Policy = Policy.AUTOMATIC,
    timeout_after_moves: int | None = None,
    cancel_after_moves: int | None = None,
    max_moves: int = 500,
) -> SagaState:
    """Run the saga to its end as the engine would, a parked saga being recovered at once."""
    state = flow.start(plan, "SAGA-T", {}, T0, TIMEOUT, MAX_RETRIES, policy)
    for moves in range(max_moves):
        late = timeout_after_moves is not None and moves >= timeout_after_moves
        now = T0 + TIMEOUT if late else T0
        if cancel_after_moves == moves:
            with contextlib.suppress(DomainError):  # an ended saga, or one past its pivot
                state = flow.cancel(plan, state, now)
        match flow.next_move(plan, state, now):
            case flow.Stop():
                return state
            case flow.Finish(status=status):
                state = flow.finish(state, status, now)
            case flow.TimeOut():
                state = flow.timed_out(plan, state, now)
            case flow.Run(step=step) | flow.Resolve(step=step):
                state = flow.step_started(state, step, now)
                state = forward(plan, state, step, world, now)
            case flow.Undo(step=step):
                state = flow.undo_started(state, step, now)
                state = undo(state, step, world, now)
        assert 0 <= state.retry_count <= state.max_retries
    raise AssertionError("the saga did not end")


def _recovered(state: SagaState, decision: Decision) -> SagaState:
    # Parked: recovery takes it over later with a fresh round of retries.
    return replace(state, retry_count=0) if decision is Decision.PARK else state


def taken_over(state: SagaState) -> SagaState:
    """The row as the dead gateway last wrote it, claimed by another with fresh retries."""
    return replace(state, retry_count=0)


def forward(plan: Plan, state: SagaState, step: str, world: World, now: datetime):
    world.forward_calls.append(step)
    outcome = world.next_outcome()
    if outcome in (BREAKER_OPEN, BREAKER_OPEN_LONG):
        return breaker_refused(plan, state, step, outcome, now)
    if step in world.acted and outcome in (DONE, REFUSED):
        outcome = DONE  # the key replays the first answer
    if outcome in (CRASH, ACTED_THEN_CRASH):
        if outcome == ACTED_THEN_CRASH:
            world.acted.add(step)
        return taken_over(state)
    if outcome == DONE:
        world.acted.add(step)
        return flow.step_succeeded(plan, state, step, {"step": step}, now)
    if outcome == REFUSED:
        new, decision = flow.step_refused(plan, state, step, {"code": "NO", "status": 422}, now)
        return _recovered(new, decision)
    if outcome == ACTED_THEN_LOST:
        world.acted.add(step)
    uncertain = outcome in (LOST, ACTED_THEN_LOST)
    new, decision = flow.step_failed(plan, state, step, {"code": "DOWN"}, uncertain, now)
    return _recovered(new, decision)


def breaker_refused(plan: Plan, state: SagaState, step: str, outcome: str, now: datetime):
    """As the engine decides: past the pivot (going forward) the step waits for the breaker;
    before it, or to resolve a step while compensating, an open breaker is a failure."""
    error = {"code": "SERVICE_UNAVAILABLE"}
    if plan.after_pivot(step):
        retry_after = now + (LONGEST_WAIT * 2 if outcome == BREAKER_OPEN_LONG else LONGEST_WAIT)
        new, decision = flow.step_deferred(plan, state, step, error, retry_after, now, LONGEST_WAIT)
        assert (new.retry_count, decision) == (
            state.retry_count,
            Decision.PARK if outcome == BREAKER_OPEN_LONG else Decision.WAIT,
        )
        return _recovered(new, decision)
    new, decision = flow.step_failed(plan, state, step, error, False, now)
    return _recovered(new, decision)


def undo(state: SagaState, step: str, world: World, now: datetime):
    outcome = world.next_outcome()
    if outcome == REFUSED and step in world.undone:
        outcome = DONE
    if outcome in (DONE, ACTED_THEN_LOST, ACTED_THEN_CRASH) and step not in world.undone:
        world.undone.append(step)
    if outcome in (CRASH, ACTED_THEN_CRASH):
        return taken_over(state)
    if outcome == DONE:
        return flow.undo_succeeded(state, step, {"undone": step}, now)
    if outcome == REFUSED:
        return flow.undo_refused(state, step, {"code": "CANNOT"}, now)
    new, decision = flow.undo_failed(state, step, {"code": "DOWN"}, now)
    return _recovered(new, decision)


plans = st.builds(
    plan_of,
    steps=st.integers(1, 6),
    compensable=st.sets(st.integers(0, 5)),
    pivot=st.none() | st.integers(0, 5),
)


@settings(max_examples=2000, deadline=None)
@given(
    plan=plans,
    outcomes=OUTCOMES,
    timeout_after=st.none() | st.integers(0, 40),
    cancel_after=st.none() | st.integers(0, 40),
)
def test_whatever_happens_a_saga_keeps_all_it_did_or_undoes_it(
    plan, outcomes, timeout_after, cancel_after
):
    world = World(list(outcomes))

    state = drive(plan, world, timeout_after_moves=timeout_after, cancel_after_moves=cancel_after)

    assert state.finished
    undoable = [s for s in plan.steps if s in world.acted and s in plan.compensable]
    if state.status is SagaStatus.COMPLETED:
        assert world.acted == set(plan.steps)
        assert world.undone == []
    elif state.status is SagaStatus.FAILED:
        # Only a compensation the service refused stops a saga of the AUTOMATIC policy.
        assert state.error is not None and "compensationError" in state.error
    else:
        assert state.status in (SagaStatus.COMPENSATED, SagaStatus.TIMEOUT, SagaStatus.CANCELLED)
        # Everything it did that can be undone was undone, latest first, each once.
        assert world.undone == list(reversed(undoable))
        assert plan.pivot not in world.acted
    if plan.pivot in world.acted:
        assert state.status is SagaStatus.COMPLETED
        assert all(s not in world.undone for s in plan.steps)


@settings(max_examples=200, deadline=None)
@given(plan=plans, outcomes=OUTCOMES)
def test_no_step_runs_before_the_steps_ahead_of_it_completed(plan, outcomes):
    world = World(list(outcomes))

    state = drive(plan, world)

    for step in world.forward_calls:
        earlier = plan.steps[: plan.steps.index(step)]
        assert all(step_status(state, e) is StepStatus.COMPLETED for e in earlier)


def step_status(state: SagaState, step: str) -> StepStatus | None:
    record = state.record(step)
    return record.status if record else None


@settings(max_examples=200, deadline=None)
@given(plan=plans, outcomes=OUTCOMES)
def test_with_the_manual_policy_nothing_is_undone_until_an_operator_cancels(plan, outcomes):
    world = World(list(outcomes))

    state = drive(plan, world, policy=Policy.MANUAL)

    assert world.undone == []
    assert state.status in (SagaStatus.COMPLETED, SagaStatus.FAILED)
    if state.status is SagaStatus.FAILED:
        assert state.error is not None and state.error["compensationPending"] is True
        cancelled = flow.cancel(plan, state, T0)
        assert cancelled.status is SagaStatus.COMPENSATING
        assert cancelled.reason is Reason.CANCELLED


# --- single cases, named ------------------------------------------------------------------

LOAN = Plan("LOAN", ("VALIDATE", "RESERVE", "CREATE", "CHECK"), frozenset({"RESERVE", "CREATE"}))
PAYMENT = Plan(
    "PAYMENT",
    ("CALCULATE", "RECORD", "APPLY", "RESTORE", "COMPLETE"),
    frozenset({"RECORD"}),
    pivot="APPLY",
)


def test_every_step_done_completes_the_saga_in_order():
    world = World([])

    state = drive(LOAN, world)

    assert state.status is SagaStatus.COMPLETED
    assert world.forward_calls == list(LOAN.steps)
    assert [r.status for r in state.steps] == [StepStatus.COMPLETED] * 4
    assert state.error is None and state.ended_at == T0


def test_a_refusal_undoes_the_completed_steps_latest_first():
    world = World([DONE, DONE, DONE, REFUSED])

    state = drive(LOAN, world)

    assert state.status is SagaStatus.COMPENSATED
    assert state.reason is Reason.REFUSED
    assert world.undone == ["CREATE", "RESERVE"]
    assert state.error == {"code": "NO", "status": 422, "step": "CHECK"}


def test_a_step_whose_answer_was_lost_is_run_again_before_it_is_undone():
    # RESERVE acts but its answer is lost four times; the saga gives up and compensates, and
    # first runs RESERVE again to learn what it did (a replay), then undoes it.
    world = World([DONE, ACTED_THEN_LOST, LOST, LOST, LOST, DONE, DONE])

    state = drive(LOAN, world)

    assert state.status is SagaStatus.COMPENSATED
    assert state.reason is Reason.RETRIES_EXHAUSTED
    assert world.forward_calls == ["VALIDATE"] + ["RESERVE"] * 5
    assert world.undone == ["RESERVE"]
    assert state.record("RESERVE").attempts == 5


def test_a_step_that_never_reached_its_service_is_not_undone():
    world = World([DONE] + [UNREACHED] * (MAX_RETRIES + 1))

    state = drive(LOAN, world)

    assert state.status is SagaStatus.COMPENSATED
    assert step_status(state, "RESERVE") is StepStatus.FAILED
    assert world.undone == []


def test_past_the_pivot_failures_and_refusals_are_retried_never_undone():
    world = World([DONE, DONE, DONE] + [REFUSED, UNREACHED] * 5)

    state = drive(PAYMENT, world)

    assert state.status is SagaStatus.COMPLETED
    assert world.undone == []
    assert state.record("RESTORE").attempts == 11


def test_past_the_pivot_an_open_breaker_is_waited_for_without_spending_retries():
    world = World([DONE, DONE, DONE] + [BREAKER_OPEN, BREAKER_OPEN_LONG] * 10 + [UNREACHED])
    state = flow.start(PAYMENT, "SAGA-T", {}, T0, TIMEOUT, MAX_RETRIES)
    for step in ("CALCULATE", "RECORD", "APPLY"):
        state = forward(PAYMENT, flow.step_started(state, step, T0), step, world, T0)
    for _ in range(20):
        state = forward(PAYMENT, flow.step_started(state, "RESTORE", T0), "RESTORE", world, T0)
        restore = state.record("RESTORE")
        assert (state.retry_count, restore.status, restore.in_flight) == (
            0,
            StepStatus.STARTED,
            False,
        )
        assert state.error == {"code": "SERVICE_UNAVAILABLE", "step": "RESTORE"}
    # A failure of its own is still a retry spent.
    state = forward(PAYMENT, flow.step_started(state, "RESTORE", T0), "RESTORE", world, T0)
    assert state.retry_count == 1

    assert drive_on(PAYMENT, state, world).status is SagaStatus.COMPLETED
    assert world.undone == []


def drive_on(plan: Plan, state: SagaState, world: World) -> SagaState:
    while not isinstance(move := flow.next_move(plan, state, T0), flow.Finish):
        assert isinstance(move, flow.Run)
        state = forward(plan, flow.step_started(state, move.step, T0), move.step, world, T0)
    return flow.finish(state, move.status, T0)


def test_a_step_waits_for_a_breaker_in_its_task_unless_the_wait_is_long():
    state = flow.start(PAYMENT, "SAGA-T", {}, T0, TIMEOUT, MAX_RETRIES)
    for step in ("CALCULATE", "RECORD", "APPLY", "RESTORE"):
        state = flow.step_succeeded(PAYMENT, flow.step_started(state, step, T0), step, {}, T0)
    started = flow.step_started(state, "COMPLETE", T0)
    error = {"code": "SERVICE_UNAVAILABLE"}

    for retry_after, decision in [
        (None, Decision.WAIT),  # half-open, its probes all out: soon
        (T0 + timedelta(seconds=30), Decision.WAIT),
        (T0 + timedelta(seconds=31), Decision.PARK),
    ]:
        _, decided = flow.step_deferred(
            PAYMENT, started, "COMPLETE", error, retry_after, T0, LONGEST_WAIT
        )
        assert decided is decision
    assert flow.breaker_wait_seconds(T0 + timedelta(seconds=12), T0, 0.5) == 12
    assert flow.breaker_wait_seconds(T0 - timedelta(seconds=1), T0, 0.5) == 0.5
    assert flow.breaker_wait_seconds(None, T0, 0.5) == 0.5


def test_a_pivot_in_doubt_that_turns_out_done_moves_the_saga_forward():
    world = World([DONE, DONE, ACTED_THEN_LOST, LOST, LOST, LOST, DONE])

    state = drive(PAYMENT, world)

    assert state.status is SagaStatus.COMPLETED
    assert world.undone == []


def test_a_pivot_in_flight_when_its_gateway_died_is_never_undone_on_later_certain_failures():
    # The pivot acts, its gateway dies before the answer is written; the new owner's attempts
    # never reach the loan service. The pivot may have acted, so nothing is undone: the saga
    # waits until it learns the answer, then completes.
    world = World([DONE, DONE, ACTED_THEN_CRASH] + [UNREACHED] * 12)

    state = drive(PAYMENT, world)

    assert state.status is SagaStatus.COMPLETED
    assert world.undone == []
    assert state.record("APPLY").uncertain


def test_a_reservation_in_flight_when_its_gateway_died_is_undone_if_it_acted():
    # Its new owner never reaches the customer service; once it gives up, it must still learn
    # whether the reservation was made (it was) and return it.
    world = World([DONE, ACTED_THEN_CRASH] + [UNREACHED] * 4)

    state = drive(LOAN, world)

    assert state.status is SagaStatus.COMPENSATED
    assert world.forward_calls == ["VALIDATE"] + ["RESERVE"] * 6
    assert world.undone == ["RESERVE"]


def test_a_read_in_doubt_is_not_waited_for_before_compensating():
    world = World([LOST] * 4)

    state = drive(LOAN, world)

    assert state.status is SagaStatus.COMPENSATED
    assert step_status(state, "VALIDATE") is StepStatus.FAILED
    assert world.forward_calls == ["VALIDATE"] * 4


def test_a_saga_whose_last_step_answers_after_its_timeout_completes():
    world = World([])

    state = drive(LOAN, world, timeout_after_moves=4)  # the moment CHECK has answered

    assert state.status is SagaStatus.COMPLETED
    assert world.undone == []


def test_a_pivot_refused_fails_the_recorded_payment():
    world = World([DONE, DONE, REFUSED])

    state = drive(PAYMENT, world)

    assert state.status is SagaStatus.COMPENSATED
    assert world.undone == ["RECORD"]


def test_past_its_timeout_a_saga_is_undone_and_ends_timed_out():
    world = World([])

    state = drive(LOAN, world, timeout_after_moves=2)  # after VALIDATE and RESERVE

    assert state.status is SagaStatus.TIMEOUT
    assert state.error["code"] == "SAGA_TIMEOUT"
    assert world.undone == ["RESERVE"]


def test_past_its_pivot_a_saga_ignores_its_timeout():
    world = World([])

    state = drive(PAYMENT, world, timeout_after_moves=4)

    assert state.status is SagaStatus.COMPLETED


def test_a_compensation_the_service_refuses_stops_the_saga_for_an_operator():
    world = World([DONE, DONE, DONE, REFUSED, REFUSED])

    state = drive(LOAN, world)

    assert state.status is SagaStatus.FAILED
    assert state.error["compensationError"] == {"code": "CANNOT", "step": "CREATE"}
    assert state.error["code"] == "NO"  # the cause stays


def test_an_operator_cancel_of_a_failed_saga_retries_what_is_left_to_undo():
    failed = drive(LOAN, World([DONE, DONE, DONE, REFUSED, REFUSED]))
    world = World([])

    state = flow.cancel(LOAN, failed, T0)
    while not isinstance(move := flow.next_move(LOAN, state, T0), flow.Finish):
        assert isinstance(move, flow.Undo)
        state = flow.undo_started(state, move.step, T0)
        state = undo(state, move.step, world, T0)
    state = flow.finish(state, move.status, T0)

    assert state.status is SagaStatus.CANCELLED
    assert world.undone == ["CREATE", "RESERVE"]


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (SagaStatus.COMPLETED, "SAGA_NOT_RUNNING"),
        (SagaStatus.COMPENSATED, "SAGA_NOT_RUNNING"),
        (SagaStatus.CANCELLED, "SAGA_NOT_RUNNING"),
        (SagaStatus.TIMEOUT, "SAGA_NOT_RUNNING"),
    ],
)
def test_a_saga_that_ended_cannot_be_cancelled(status, code):
    ended = replace(flow.start(LOAN, "SAGA-T", {}, T0, TIMEOUT, 3), status=status)

    with pytest.raises(DomainError) as refused:
        flow.cancel(LOAN, ended, T0)

    assert (refused.value.status, refused.value.code) == (409, code)


def test_a_saga_that_called_its_pivot_cannot_be_cancelled():
    state = flow.start(PAYMENT, "SAGA-T", {}, T0, TIMEOUT, 3)
    for step in ("CALCULATE", "RECORD"):
        state = flow.step_succeeded(PAYMENT, flow.step_started(state, step, T0), step, {}, T0)
    state = flow.step_started(state, "APPLY", T0)

    with pytest.raises(DomainError) as refused:
        flow.cancel(PAYMENT, state, T0)

    assert refused.value.code == "SAGA_PAST_POINT_OF_NO_RETURN"


def test_retries_back_off_exponentially_up_to_a_cap():
    assert [flow.backoff_seconds(n, 0.5) for n in range(4)] == [0.5, 1.0, 2.0, 4.0]
    assert flow.backoff_seconds(20, 0.5) == flow.MAX_BACKOFF_SECONDS


def test_a_step_record_survives_its_round_trip_through_json():
    record = StepRecord(
        "RESERVE", StepStatus.COMPLETED, T0, T0 + timedelta(milliseconds=1234), 2, {"a": 1}
    )
    from elms.core import jsoncodec

    wire = jsoncodec.loads(jsoncodec.dumps(record.wire()))

    assert wire["duration"] == 1234
    assert StepRecord.from_wire(wire) == record
