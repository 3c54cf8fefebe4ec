"""How a saga is shown (api.md §5) and how one that ended answers the request that started
it (docs/sagas.md, "What the API answers")."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from starlette.responses import Response

from elms.core import envelope
from elms.core.errors import DomainError, FieldProblem
from elms.gateway.saga.engine import SagaEngine
from elms.gateway.saga.state import Reason, SagaState, SagaStatus, StepRecord, milliseconds

TRACKING = "/api/v1/saga/states/{}"


def refusal(status: int, error: dict[str, Any], **extra: Any) -> DomainError:
    """A service's (or a step's) refusal, to answer the client with as it was given."""
    details = [
        FieldProblem(
            d.get("field", ""),
            d.get("message", ""),
            d.get("rejectedValue"),
            truncated=d.get("rejectedValueTruncated") is True,
        )
        for d in error.get("details") or []
        if isinstance(d, dict)
    ]
    kept = {k: v for k, v in error.items() if k not in ("code", "message", "details", "status")}
    return DomainError(
        str(error.get("message", "Refused")),
        code=str(error.get("code", "REFUSED")),
        status=status,
        details=details,
        extra={**kept, **extra},
    )


def accepted(engine: SagaEngine, state: SagaState, headers: dict[str, str] | None) -> Response:
    plan = engine.definitions[state.saga_type].plan
    typical = engine.metrics.typical_seconds.get(state.saga_type, 1.0)
    data = {
        "sagaId": state.saga_id,
        "sagaType": state.saga_type,
        "status": state.status.value,
        "currentStep": state.current_step,
        "estimatedCompletion": state.started_at + timedelta(seconds=typical),
        "steps": [{"stepName": step, "status": _step_status(state, step)} for step in plan.steps],
        "trackingUrl": TRACKING.format(state.saga_id),
    }
    return envelope.success(data, "Saga accepted", 202, headers)


def _step_status(state: SagaState, step: str) -> str:
    record = state.record(step)
    return record.status.value if record is not None else "PENDING"


def ended_error(state: SagaState) -> DomainError:
    """How a saga that did not complete answers the request that started it."""
    error = state.error or {}
    extra = {"sagaId": state.saga_id, "sagaStatus": state.status.value}
    if "step" in error:
        extra["failedStep"] = error["step"]
    if state.status is SagaStatus.COMPENSATED and state.reason is Reason.REFUSED:
        return refusal(int(error.get("status", 422)), error, **extra)
    if state.status is SagaStatus.COMPENSATED:
        return DomainError(
            "A service the request needs stayed unavailable; nothing was done",
            code="SERVICE_UNAVAILABLE",
            status=503,
            extra={**extra, "cause": error},
        )
    if state.status is SagaStatus.TIMEOUT:
        return DomainError(
            "The request did not finish in time and was undone",
            code="SAGA_TIMEOUT",
            status=504,
            extra=extra,
        )
    if state.status is SagaStatus.CANCELLED:
        return DomainError(
            "The request was cancelled and undone", code="SAGA_CANCELLED", extra=extra
        )
    return DomainError(
        "The request could not be completed or undone; an operator has been left the saga",
        code="SAGA_FAILED",
        status=500,
        extra={**extra, "cause": error},
    )


def _records(records: tuple[StepRecord, ...]) -> list[dict[str, Any]]:
    return [r.wire() for r in records]


def view(engine: SagaEngine, state: SagaState) -> dict[str, Any]:
    final = None
    if state.status is SagaStatus.COMPLETED:
        final = engine.definitions[state.saga_type].final_result(state.saga_id, state.results())
    return {
        **summary(state),
        "timeoutAt": state.timeout_at,
        "retryCount": state.retry_count,
        "maxRetries": state.max_retries,
        "compensationPolicy": state.policy.value,
        "compensationReason": state.reason.value if state.reason else None,
        "completedSteps": _records(state.steps),
        "compensations": _records(state.compensations),
        "finalResult": final,
        "error": state.error,
        "trackingUrl": TRACKING.format(state.saga_id),
    }


def summary(state: SagaState) -> dict[str, Any]:
    return {
        "sagaId": state.saga_id,
        "sagaType": state.saga_type,
        "status": state.status.value,
        "currentStep": state.current_step,
        "startTime": state.started_at,
        "endTime": state.ended_at,
        "duration": milliseconds(state.started_at, state.ended_at),
        "startedBy": state.data.get("startedBy"),
        "errorCode": (state.error or {}).get("code"),
    }
