"""The gateway's saga routes (api.md §3, §4, §5).

`POST /api/v1/loans` and `POST /api/v1/payments` run LOAN_CREATION and PAYMENT_PROCESSING and
answer 201 when the saga completes within the synchronous wait, the refusing step's error when it
was compensated, or 202 with a tracking URL while it runs. `POST /api/v1/saga/loan-creation`
answers 202 at once. `/api/v1/saga/states/{id}`, `/history` and `/{id}/cancel` read and stop
sagas. Requests are validated by the service that owns them before a saga starts, so a bad
request is a 400 that leaves no saga behind."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import ValidationError
from starlette.responses import Response

from elms.core import envelope
from elms.core.business_day import today
from elms.core.clock import day_range
from elms.core.config import Settings
from elms.core.context import request_id_var
from elms.core.envelope import Envelope
from elms.core.errors import DomainError, FieldProblem, invalid, not_found
from elms.core.ids import new_id
from elms.core.schemas import Day, Page
from elms.core.web import PageNumber, PageSize
from elms.gateway.proxy import authorised
from elms.gateway.saga import commands, views
from elms.gateway.saga.engine import SagaEngine
from elms.gateway.saga.loan_creation import LOAN_CREATION
from elms.gateway.saga.payment_processing import PAYMENT_PROCESSING
from elms.gateway.saga.responses import SagaAcceptedOut, SagaStateOut, SagaSummaryOut
from elms.gateway.saga.schemas import SagaOptions
from elms.gateway.saga.state import SagaState, SagaStatus
from elms.gateway.tokens import Principal

# The sagas this gateway runs (one per SagaDefinition given to its engine).
SagaType = Literal["LOAN_CREATION", "PAYMENT_PROCESSING"]
router = APIRouter(include_in_schema=False, tags=["sagas"])
# While the saga runs on past the synchronous wait (api.md §3, §4).
_ACCEPTED = {202: {"model": Envelope[SagaAcceptedOut], "description": "The saga is still running"}}


def _replayed(replayed: bool) -> dict[str, str] | None:
    return {"Idempotent-Replayed": "true"} if replayed else None


async def _answer(request: Request, saga: SagaState, replayed: bool, message: str) -> Response:
    engine: SagaEngine = request.app.state.sagas
    settings: Settings = request.app.state.settings
    state = await engine.wait(saga.saga_id, settings.saga_sync_wait_seconds)
    headers = _replayed(replayed)
    if state.status is SagaStatus.COMPLETED:
        return envelope.success(await engine.answer(state), message, 201, headers)
    if not state.finished:
        return views.accepted(engine, state, headers)
    response = envelope.domain_error(views.ended_error(state))
    response.headers.update(headers or {})
    return response


def _loan_saga_data(request: Request, principal: Principal, loan: dict[str, Any]) -> dict:
    settings: Settings = request.app.state.settings
    return {
        "request": loan,
        "applicationId": loan.get("applicationId") or new_id("APP"),
        "reservationTimeout": settings.saga_reservation_timeout_seconds,
        "startedBy": commands.started_by(principal),
        "requestId": request_id_var.get(),
    }


@router.post("/api/v1/loans", status_code=201, tags=["loans"], responses=_ACCEPTED)
async def create_loan(request: Request) -> Response:
    command, earlier = await commands.read_command(request)
    if earlier is not None:
        return await _answer(request, earlier, True, "Loan application created")
    loan = await commands.validated(request, "loan", "/internal/v1/loans/validate", command.body)
    engine: SagaEngine = request.app.state.sagas
    data = _loan_saga_data(request, command.principal, loan)
    state, replayed = await commands.begin(
        request, command, engine.new_saga(LOAN_CREATION.saga_type, data)
    )
    return await _answer(request, state, replayed, "Loan application created")


@router.post(
    "/api/v1/saga/loan-creation", status_code=202, response_model=Envelope[SagaAcceptedOut]
)
async def start_loan_creation(request: Request) -> Response:
    command, earlier = await commands.read_command(request)
    engine: SagaEngine = request.app.state.sagas
    if earlier is not None:
        return views.accepted(engine, earlier, _replayed(True))
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
        loan = await commands.validated(request, "loan", "/internal/v1/loans/validate", loan_fields)
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
    state, replayed = await commands.begin(request, command, saga)
    return views.accepted(engine, state, _replayed(replayed))


@router.post("/api/v1/payments", status_code=201, tags=["payments"], responses=_ACCEPTED)
async def create_payment(request: Request) -> Response:
    command, earlier = await commands.read_command(request)
    if earlier is not None:
        return await _answer(request, earlier, True, "Payment processed")
    payment = await commands.validated(
        request, "payment", "/internal/v1/payments/validate", command.body
    )
    # Fixed now, so a saga resumed after midnight still pays on the day it was asked to; in
    # manual mode, a gateway that has not learnt the business date yet leaves it to the payment
    # service, which reads the loan (and its date) first.
    business = request.app.state.business_day
    if not business.manual or business.known is not None:
        payment["paymentDate"] = payment.get("paymentDate") or today()
    engine: SagaEngine = request.app.state.sagas
    data = {
        "request": payment,
        "paymentId": new_id("PAY"),
        "startedBy": commands.started_by(command.principal),
        "requestId": request_id_var.get(),
    }
    saga = engine.new_saga(PAYMENT_PROCESSING.saga_type, data)
    state, replayed = await commands.begin(request, command, saga)
    return await _answer(request, state, replayed, "Payment processed")


# --- reading and cancelling sagas -------------------------------------------------------------


def _visible(principal: Principal, state: SagaState) -> SagaState:
    """A customer sees only the sagas they started; others' are as if they did not exist."""
    started_by = state.data.get("startedBy") or {}
    if principal.is_customer and started_by.get("customerId") != principal.customer_id:
        raise not_found("Saga", state.saga_id)
    return state


@router.get("/api/v1/saga/states/{saga_id}", response_model=Envelope[SagaStateOut])
async def saga_state(saga_id: str, request: Request) -> Response:
    principal = await authorised(request)
    engine: SagaEngine = request.app.state.sagas
    state = _visible(principal, await engine.get(saga_id))
    return envelope.success(views.view(engine, state), "Saga state")


@router.get("/api/v1/saga/history", response_model=Envelope[Page[SagaSummaryOut]])
async def saga_history(
    request: Request,
    status: SagaStatus | None = None,
    saga_type: Annotated[SagaType | None, Query(alias="sagaType")] = None,
    from_date: Annotated[Day | None, Query(alias="fromDate")] = None,
    to_date: Annotated[Day | None, Query(alias="toDate")] = None,
    page: PageNumber = 0,
    size: PageSize = 20,
) -> Response:
    principal = await authorised(request)
    if from_date and to_date and from_date > to_date:
        raise invalid("fromDate", "fromDate must not be after toDate", str(from_date))
    engine: SagaEngine = request.app.state.sagas
    sagas, total = await engine.history(
        status=status,
        saga_type=saga_type,
        dates=day_range(from_date, to_date),
        started_by_customer=principal.customer_id if principal.is_customer else None,
        page=page,
        size=size,
    )
    items = [views.summary(s) for s in sagas]
    return envelope.success(Page[dict].of(items, page, size, total).wire(), "Saga history")


@router.post("/api/v1/saga/{saga_id}/cancel", response_model=Envelope[SagaStateOut])
async def cancel_saga(saga_id: str, request: Request) -> Response:
    await authorised(request)
    engine: SagaEngine = request.app.state.sagas
    settings: Settings = request.app.state.settings
    await engine.cancel(saga_id)
    state = await engine.wait(saga_id, settings.saga_sync_wait_seconds)
    message = "Saga cancelled" if state.finished else "Saga is being compensated"
    return envelope.success(views.view(engine, state), message)
