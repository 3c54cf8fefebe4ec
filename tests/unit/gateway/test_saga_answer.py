"""What a completed saga answers the request that started it (SagaEngine.answer): what its
definition reads with its final result, or the final result alone when that read fails, since
the work is done either way."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest

from elms.gateway.saga import flow
from elms.gateway.saga.definition import SagaDefinition, Step, StepRefused, StepUnavailable
from elms.gateway.saga.engine import SagaConfig, SagaEngine
from elms.gateway.saga.state import SagaStatus, StepRecord, StepStatus

T0 = datetime(2026, 11, 25, 12, 0, 0)
CONFIG = SagaConfig(
    timeout=timedelta(minutes=5),
    max_retries=3,
    backoff_seconds=0.1,
    heartbeat_seconds=1,
    stale_after=timedelta(seconds=30),
    recovery_batch=10,
)


async def _unused(_: Any) -> Any:
    raise AssertionError("no step runs here")


def _completed(definition: SagaDefinition) -> Any:
    state = flow.start(definition.plan, "SAGA-1", {}, T0, CONFIG.timeout, CONFIG.max_retries)
    record = StepRecord("MAKE", StepStatus.COMPLETED, T0, T0, result={"thingId": "T-1"})
    return replace(state, status=SagaStatus.COMPLETED, steps=(record,), ended_at=T0)


def _definition(answer: Any = None) -> SagaDefinition:
    return SagaDefinition(
        saga_type="MAKING",
        steps=(Step("MAKE", _unused),),
        final_result=lambda saga_id, results: {**results["MAKE"], "sagaId": saga_id},
        answer=answer,
    )


async def test_without_a_reader_the_answer_is_the_final_result():
    definition = _definition()

    answer = await SagaEngine([definition], CONFIG).answer(_completed(definition))

    assert answer == {"thingId": "T-1", "sagaId": "SAGA-1"}


async def test_the_reader_is_given_the_final_result_and_its_answer_is_the_answer():
    async def whole(final: Any, call: Any) -> Any:
        return {**final, "parts": ["a", "b"]}

    definition = _definition(whole)

    answer = await SagaEngine([definition], CONFIG).answer(_completed(definition))

    assert answer == {"thingId": "T-1", "sagaId": "SAGA-1", "parts": ["a", "b"]}


@pytest.mark.parametrize(
    "failure",
    [
        StepUnavailable({"code": "SERVICE_UNAVAILABLE", "message": "breaker open"}, False),
        StepRefused(404, {"code": "NOT_FOUND", "message": "gone"}),
    ],
)
async def test_a_reader_that_fails_leaves_the_final_result_as_the_answer(failure):
    async def unreachable(final: Any, call: Any) -> Any:
        raise failure

    definition = _definition(unreachable)

    answer = await SagaEngine([definition], CONFIG).answer(_completed(definition))

    assert answer == {"thingId": "T-1", "sagaId": "SAGA-1"}
