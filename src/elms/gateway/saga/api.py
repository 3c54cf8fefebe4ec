"""The gateway's saga routes (api.md §3, §4, §5).

`POST /api/v1/loans` and `POST /api/v1/payments` run LOAN_CREATION and PAYMENT_PROCESSING and
answer 201 when the saga completes within the synchronous wait, the refusing step's error when it
was compensated, or 202 with a tracking URL while it runs. `POST /api/v1/saga/loan-creation`
answers 202 at once. `/api/v1/saga/states/{id}`, `/history` and `/{id}/cancel` read and stop
sagas. Requests are validated by the service that owns them before a saga starts, so a bad
request is a 400 that leaves no saga behind."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import ValidationError
from starlette.responses import Response

from elms.core import envelope, idempotency, jsoncodec
from elms.core.clock import day_range, today
from elms.core.config import Settings
from elms.core.context import request_id_var
from elms.core.errors import DomainError, FieldProblem, invalid, not_found
from elms.core.ids import new_id
from elms.core.schemas import Page
from elms.core.service_client import ServiceUnavailable
from elms.core.web import PageNumber, PageSize
from elms.gateway.breakers import BreakerBoard
from elms.gateway.proxy import authorised, check_ownership
from elms.gateway.saga.engine import SagaEngine
from elms.gateway.saga.loan_creation import LOAN_CREATION
from elms.gateway.saga.payment_processing import PAYMENT_PROCESSING
from elms.gateway.saga.schemas import SagaOptions
from elms.gateway.saga.state import Reason, SagaState, SagaStatus, StepRecord, milliseconds
from elms.gateway.tokens import Principal

router = APIRouter(include_in_schema=False)

TRACKING = "/api/v1/saga/states/{}"


# --- reading the request ------------------------------------------------------------------


async def _json_object(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        body = jsoncodec.loads(raw) if raw else None
    except ValueError as error:
        raise DomainError(
            f"Request body is not valid JSON: {error}", code="MALFORMED_REQUEST", status=400
        ) from error
    if not isinstance(body, dict):
        raise DomainError(
            "Request body must be a JSON object", code="MALFORMED_REQUEST", status=400
        )
    return body


def _refusal(status: int, error: dict[str, Any], **extra: Any) -> DomainError:
    """A service's (or a step's) refusal, to answer the client with as it was given."""
    details = [
        FieldProblem(d.get("field", ""), d.get("message", ""), d.get("rejectedValue"))
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


async def _validated(request: Request, service: str, path: str, body: Any) -> dict[str, Any]:
    """The request as the owning service validated it (its 400 passed on as it is)."""
    services = request.app.state.services
    breakers: BreakerBoard = request.app.state.breakers
    await breakers.admit(service)
    try:
        answer = await services.call(service, "POST", path, body)
    except ServiceUnavailable:
        await breakers.failed(service)
        raise
    if answer.status >= 500:
        await breakers.failed(service)
        raise ServiceUnavailable(f"{service} answered {answer.status}")
    await breakers.succeeded(service)
    if not answer.ok:
        raise _refusal(answer.status, answer.error)
    return answer.data


@dataclass(frozen=True)
class Command:
    principal: Principal
    body: dict[str, Any]
    # The caller's own `Idempotency-Key` (scoped to them), and the request's fingerprint.
    key: str | None
    fingerprint: str


def _own_key(principal: Principal, key: str) -> str:
    """Keys are the client's own: two users choosing the same key never meet."""
    mixed = f"{principal.subject}\n{idempotency.check_key(key)}"
    return "saga:" + hashlib.sha256(mixed.encode()).hexdigest()


async def _command(request: Request) -> tuple[Command, SagaState | None]:
    """Who asks (token and scope) and what (a JSON object); then the saga an earlier request
    with the same `Idempotency-Key` started, if there is one — a repeat answers as that saga
    does, whatever has changed since — or else that what is asked is theirs to ask."""
    principal = await authorised(request)
    body = await _json_object(request)
    key = request.headers.get("idempotency-key")
    command = Command(
        principal,
        body,
        _own_key(principal, key) if key is not None else None,
        idempotency.fingerprint(request.method, request.url.path, body),
    )
    if command.key is not None:
        earlier = await idempotency.earlier_answer(
            request.app.state.db, command.key, command.fingerprint
        )
        if earlier is not None:
            return command, await request.app.state.sagas.get(earlier.data["sagaId"])
    await check_ownership(request, principal, body)
    return command, None


def _replayed(replayed: bool) -> dict[str, str] | None:
    return {"Idempotent-Replayed": "true"} if replayed else None


def _started_by(principal: Principal) -> dict[str, Any]:
    return {
        "subject": principal.subject,
        "role": principal.role.value,
        "customerId": principal.customer_id,
    }


# --- starting a saga and answering for it ---------------------------------------------------


async def _begin(request: Request, command: Command, saga: SagaState) -> tuple[SagaState, bool]:
    """Record the saga and start driving it; with an `Idempotency-Key`, the key's claim and the
    saga are written together, and a concurrent repeat finds the saga the first request started.
    Returns the saga and whether this request is such a repeat."""
    engine: SagaEngine = request.app.state.sagas
    if command.key is None:
        await engine.insert(saga)
        engine.spawn(saga)
        return saga, False
    settings: Settings = request.app.state.settings

    async def record() -> idempotency.Answer:
        await engine.insert(saga)
        return idempotency.Answer(202, "Saga started", {"sagaId": saga.saga_id})

    answer, replayed = await idempotency.run_once(
        request.app.state.db,
        command.key,
        command.fingerprint,
        timedelta(hours=settings.idempotency_ttl_hours),
        record,
    )
    if replayed:
        return await engine.get(answer.data["sagaId"]), True
    engine.spawn(saga)
    return saga, False


def _accepted(engine: SagaEngine, state: SagaState, headers: dict[str, str] | None) -> Response:
    plan = engine.definitions[state.saga_type].plan
    typical = engine.metrics.typical_seconds.get(state.saga_type, 1.0)
    data = {
        "sagaId": state.saga_id,
        "sagaType": state.saga_type,
        "status": state.status.value,
        "currentStep": state.current_step,
        "estimatedCompletion": state.started_at + timedelta(seconds=typical),
        "steps": [
            {"stepName": step, "status": record.status.value if record else "PENDING"}
            for step in plan.steps
            for record in [state.record(step)]
        ],
        "trackingUrl": TRACKING.format(state.saga_id),
    }
    return envelope.success(data, "Saga accepted", 202, headers)


def _ended_error(state: SagaState) -> DomainError:
    """How a saga that did not complete answers the request that started it."""
    error = state.error or {}
    extra = {"sagaId": state.saga_id, "sagaStatus": state.status.value}
    if "step" in error:
        extra["failedStep"] = error["step"]
    if state.status is SagaStatus.COMPENSATED and state.reason is Reason.REFUSED:
        return _refusal(int(error.get("status", 422)), error, **extra)
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


async def _answer(request: Request, saga: SagaState, replayed: bool, message: str) -> Response:
    engine: SagaEngine = request.app.state.sagas
    settings: Settings = request.app.state.settings
    state = await engine.wait(saga.saga_id, settings.saga_sync_wait_seconds)
    headers = _replayed(replayed)
    if state.status is SagaStatus.COMPLETED:
        result = engine.definitions[state.saga_type].final_result(state.saga_id, state.results())
        return envelope.success(result, message, 201, headers)
    if not state.finished:
        return _accepted(engine, state, headers)
    response = envelope.domain_error(_ended_error(state))
    response.headers.update(headers or {})
    return response


def _loan_saga_data(request: Request, principal: Principal, loan: dict[str, Any]) -> dict:
    settings: Settings = request.app.state.settings
    return {
        "request": loan,
        "applicationId": loan.get("applicationId") or new_id("APP"),
        "reservationTimeout": settings.saga_reservation_timeout_seconds,
        "startedBy": _started_by(principal),
        "requestId": request_id_var.get(),
    }


@router.post("/api/v1/loans")
async def create_loan(request: Request) -> Response:
    command, earlier = await _command(request)
    if earlier is not None:
        return await _answer(request, earlier, True, "Loan application created")
    loan = await _validated(request, "loan", "/internal/v1/loans/validate", command.body)
    engine: SagaEngine = request.app.state.sagas
    data = _loan_saga_data(request, command.principal, loan)
    state, replayed = await _begin(request, command, engine.new_saga(LOAN_CREATION.saga_type, data))
    return await _answer(request, state, replayed, "Loan application created")


@router.post("/api/v1/saga/loan-creation")
async def start_loan_creation(request: Request) -> Response:
    command, earlier = await _command(request)
    engine: SagaEngine = request.app.state.sagas
    if earlier is not None:
        return _accepted(engine, earlier, _replayed(True))
    body = command.body
    problems: list[FieldProblem] = []
    try:
        options = SagaOptions.model_validate(body)
    except ValidationError as error:
        options = SagaOptions()
        problems = [
            FieldProblem(".".join(map(str, p["loc"])), p["msg"], body.get(str(p["loc"][0])))
            for p in error.errors()
        ]
    loan_fields = {k: v for k, v in body.items() if k not in SagaOptions.wire_names()}
    try:
        loan = await _validated(request, "loan", "/internal/v1/loans/validate", loan_fields)
    except DomainError as refused:
        if refused.code != "VALIDATION_ERROR" or not problems:
            raise
        refused.details = [*problems, *refused.details]
        raise
    if problems:
        raise DomainError("Request validation failed", "VALIDATION_ERROR", 400, problems)
    saga = engine.new_saga(
        LOAN_CREATION.saga_type,
        _loan_saga_data(request, command.principal, loan),
        timeout=timedelta(seconds=options.saga_timeout) if options.saga_timeout else None,
        policy=options.compensation_policy,
    )
    state, replayed = await _begin(request, command, saga)
    return _accepted(engine, state, _replayed(replayed))


@router.post("/api/v1/payments")
async def create_payment(request: Request) -> Response:
    command, earlier = await _command(request)
    if earlier is not None:
        return await _answer(request, earlier, True, "Payment processed")
    payment = await _validated(request, "payment", "/internal/v1/payments/validate", command.body)
    # Fixed now, so a saga resumed after midnight still pays on the day it was asked to.
    payment["paymentDate"] = payment.get("paymentDate") or today()
    engine: SagaEngine = request.app.state.sagas
    data = {
        "request": payment,
        "paymentId": new_id("PAY"),
        "startedBy": _started_by(command.principal),
        "requestId": request_id_var.get(),
    }
    saga = engine.new_saga(PAYMENT_PROCESSING.saga_type, data)
    state, replayed = await _begin(request, command, saga)
    return await _answer(request, state, replayed, "Payment processed")


# --- reading and cancelling sagas -------------------------------------------------------------


def _visible(principal: Principal, state: SagaState) -> SagaState:
    """A customer sees only the sagas they started; others' are as if they did not exist."""
    started_by = state.data.get("startedBy") or {}
    if principal.is_customer and started_by.get("customerId") != principal.customer_id:
        raise not_found("Saga", state.saga_id)
    return state


def _records(records: tuple[StepRecord, ...]) -> list[dict[str, Any]]:
    return [r.wire() for r in records]


def _view(engine: SagaEngine, state: SagaState) -> dict[str, Any]:
    final = None
    if state.status is SagaStatus.COMPLETED:
        final = engine.definitions[state.saga_type].final_result(state.saga_id, state.results())
    return {
        **_summary(state),
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


def _summary(state: SagaState) -> dict[str, Any]:
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


@router.get("/api/v1/saga/states/{saga_id}")
async def saga_state(saga_id: str, request: Request) -> Response:
    principal = await authorised(request)
    engine: SagaEngine = request.app.state.sagas
    state = _visible(principal, await engine.get(saga_id))
    return envelope.success(_view(engine, state), "Saga state")


@router.get("/api/v1/saga/history")
async def saga_history(
    request: Request,
    status: SagaStatus | None = None,
    saga_type: Annotated[str | None, Query(alias="sagaType", max_length=100)] = None,
    from_date: Annotated[date | None, Query(alias="fromDate")] = None,
    to_date: Annotated[date | None, Query(alias="toDate")] = None,
    page: PageNumber = 0,
    size: PageSize = 20,
) -> Response:
    principal = await authorised(request)
    if from_date and to_date and from_date > to_date:
        raise invalid("fromDate", "fromDate must not be after toDate", str(from_date))
    engine: SagaEngine = request.app.state.sagas
    if saga_type is not None and saga_type not in engine.definitions:
        raise invalid("sagaType", f"one of {', '.join(sorted(engine.definitions))}", saga_type)
    sagas, total = await engine.history(
        status=status,
        saga_type=saga_type,
        dates=day_range(from_date, to_date),
        started_by_customer=principal.customer_id if principal.is_customer else None,
        page=page,
        size=size,
    )
    items = [_summary(s) for s in sagas]
    return envelope.success(Page[dict].of(items, page, size, total).wire(), "Saga history")


@router.post("/api/v1/saga/{saga_id}/cancel")
async def cancel_saga(saga_id: str, request: Request) -> Response:
    await authorised(request)
    engine: SagaEngine = request.app.state.sagas
    settings: Settings = request.app.state.settings
    await engine.cancel(saga_id)
    state = await engine.wait(saga_id, settings.saga_sync_wait_seconds)
    message = "Saga cancelled" if state.finished else "Saga is being compensated"
    return envelope.success(_view(engine, state), message)
