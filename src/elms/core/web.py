"""The HTTP skeleton every service shares: exact JSON in, envelope out, request ids, metrics,
error mapping, idempotent commands and the actuator."""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import timedelta
from decimal import Decimal
from typing import Annotated, Any

import asyncpg
import structlog
from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from elms.core import background, envelope, idempotency, jsoncodec, outbox
from elms.core.background import Job
from elms.core.business_day import HEADER as BUSINESS_DATE_HEADER
from elms.core.business_day import BusinessDay, business_day_var
from elms.core.canonical import CanonicalRequest
from elms.core.clock import utcnow
from elms.core.config import SERVICES, Settings
from elms.core.context import request_id_var, request_started_var, saga_id_var
from elms.core.database import (
    LOST,
    Database,
    DatabaseUnavailable,
    PoolConfig,
    PoolExhausted,
)
from elms.core.errors import DomainError, FieldProblem, not_found
from elms.core.ids import new_id
from elms.core.internal_auth import ACTING_USER, RequireServiceCredential, service_credential
from elms.core.internal_auth import HEADER as CREDENTIAL_HEADER
from elms.core.observability import Metrics
from elms.core.principal import Caller
from elms.core.service_client import (
    RELAYED_FAILURE,
    ServiceClient,
    ServiceTimeout,
    ServiceUnavailable,
)

log = structlog.get_logger("elms.web")

# How long a client is told to wait before trying again after a 503.
RETRY_AFTER_SECONDS = 5
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")
_HTTP_CODES = {
    400: "MALFORMED_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
}


class _ExactJSONRequest(Request):
    """Reads JSON bodies with decimals for fractions, so money never passes through a float."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = jsoncodec.loads(await self.body())
        return self._json


class ExactJSONRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        handler = super().get_route_handler()

        async def exact_handler(request: Request) -> Response:
            return await handler(_ExactJSONRequest(request.scope, request.receive))

        return exact_handler


def router(prefix: str = "", **kwargs: Any) -> APIRouter:
    return APIRouter(prefix=prefix, route_class=ExactJSONRoute, **kwargs)


# --- errors -------------------------------------------------------------------------------


def _field_name(location: Sequence[Any]) -> str:
    parts = [str(p) for p in location[1:]] if len(location) > 1 else [str(p) for p in location]
    return ".".join(parts)


def _shown(value: Any) -> Any:
    """A rejected value as the client may see it again: scalars only, never a whole object,
    and never text that cannot be written as UTF-8 (a lone surrogate)."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return None
        return value
    if value is None or isinstance(value, int | Decimal | bool):
        return value
    return None


def _validation_failed(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = exc.errors()
    if any(p.get("type") == "json_invalid" for p in problems):
        error = next(p for p in problems if p.get("type") == "json_invalid")
        reason = (error.get("ctx") or {}).get("error", "malformed JSON")
        return envelope.error(400, "MALFORMED_REQUEST", f"Request body is not valid JSON: {reason}")
    details = [
        FieldProblem(_field_name(p.get("loc", ())), p.get("msg", "invalid"), _shown(p.get("input")))
        for p in problems
    ]
    return envelope.error(400, "VALIDATION_ERROR", "Request validation failed", details)


def _domain_refused(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    return envelope.domain_error(exc)


def _http_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "ERROR")
    message = exc.detail if isinstance(exc.detail, str) else code
    return envelope.error(exc.status_code, code, message, headers=exc.headers)


def _pool_exhausted(_: Request, exc: Exception) -> Response:
    log.warning("database pool exhausted", error=str(exc))
    return envelope.error(
        503,
        "SERVICE_UNAVAILABLE",
        "The service is busy; try again shortly",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def _database_unavailable(request: Request, exc: Exception) -> Response:
    # Out of reach at connect (DatabaseUnavailable) or lost in the middle of a statement (the
    # driver's own errors): the service cannot answer now, and says when to try again. The
    # transaction, if one was open, did not commit.
    request.app.state.db.lost(exc)
    return envelope.error(
        503,
        "SERVICE_UNAVAILABLE",
        "The service's database is unavailable; try again shortly",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def _upstream_unavailable(_: Request, exc: Exception) -> Response:
    relayed = {RELAYED_FAILURE: "true", "Retry-After": str(RETRY_AFTER_SECONDS)}
    if isinstance(exc, ServiceTimeout):
        log.warning("another service did not answer in time", error=str(exc))
        return envelope.error(
            504, "GATEWAY_TIMEOUT", "A service this request needs was too slow", headers=relayed
        )
    log.warning("another service is unavailable", error=str(exc))
    return envelope.error(
        503, "SERVICE_UNAVAILABLE", "A service this request needs is unavailable", headers=relayed
    )


def _retry_later(_: Request, exc: Exception) -> Response:
    # Two transactions collided; neither request was wrong. 503 tells a caller (the saga) to
    # retry, where a 409 would read as a refusal.
    log.warning("transaction collided; asking the caller to retry", error=str(exc))
    return envelope.error(503, "SERVICE_UNAVAILABLE", "The request collided with another; retry")


def _out_of_range(_: Request, exc: Exception) -> Response:
    # A value the schema let through but PostgreSQL cannot hold (a number in free-form JSON
    # beyond NUMERIC's range, an id beyond INTEGER): the client's input, so 400.
    log.info("database refused a value", error=str(exc))
    return envelope.error(400, "VALIDATION_ERROR", "A value in the request is out of range")


def _constraint_violated(_: Request, exc: Exception) -> Response:
    # Services check their rules before writing; reaching this means two requests raced past
    # the check, and the database's constraint refused the second. A conflict, not a crash.
    log.warning("database constraint refused a write", error=str(exc))
    return envelope.error(409, "CONFLICT", "The change conflicts with the current data; retry")


def _unstorable_text(_: Request, exc: Exception) -> Response:
    # PostgreSQL text cannot hold a NUL character (\u0000): bad input in a body, path or query,
    # which only the database notices. A 400, not a crash.
    return envelope.error(400, "VALIDATION_ERROR", "Text must not contain the NUL character")


# --- request context and metrics -----------------------------------------------------------


def access_log_level(status: int) -> int:
    """Every request is counted in the metrics; its log line is for the ones to look at. One
    answered is DEBUG (`ELMS_LOG_LEVEL=DEBUG` shows them all), a refusal INFO, a failure
    WARNING: an hour of use is a handful of lines in the terminal, not twenty thousand."""
    if status >= 500:
        return logging.WARNING
    return logging.INFO if status >= 400 else logging.DEBUG


class RequestContextMiddleware:
    """Request id (accepted or made), the service's business day, timing, access log and
    Prometheus counts, as plain ASGI."""

    def __init__(self, app: ASGIApp, metrics: Metrics, business: BusinessDay) -> None:
        self.app = app
        self.metrics = metrics
        self.business = business

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        offered = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = offered if _REQUEST_ID.match(offered) else new_id("REQ")
        # A saga's step names its saga, so this service's logs of the call carry it too.
        saga = headers.get(b"x-saga-id", b"").decode("latin-1")
        saga_token = saga_id_var.set(saga if _REQUEST_ID.match(saga) else None)
        started = time.perf_counter()
        id_token = request_id_var.set(request_id)
        start_token = request_started_var.set(started)
        day_token = business_day_var.set(self.business)
        status_holder: dict[str, Any] = {"status": 500}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                status_holder["started"] = True
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    (b"x-request-id", request_id.encode("latin-1")),
                    (
                        BUSINESS_DATE_HEADER.lower().encode("latin-1"),
                        self.business.today().isoformat().encode("latin-1"),
                    ),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            # Answered here rather than by Starlette's outer error middleware, so that even a
            # 500 carries its request id in the header and the envelope.
            log.exception("unhandled error")
            if status_holder["status"] == 500 and not status_holder.get("started"):
                response = envelope.error(500, "INTERNAL_ERROR", "An internal error occurred")
                await response(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", "unmatched")
            method = scope["method"]
            status = status_holder["status"]
            self.metrics.requests.labels(self.metrics.service, method, route, str(status)).inc()
            self.metrics.latency.labels(self.metrics.service, method, route).observe(elapsed)
            log.log(
                access_log_level(status),
                "request",
                method=method,
                path=scope["path"],
                status=status,
                ms=round(elapsed * 1000, 1),
            )
            request_id_var.reset(id_token)
            request_started_var.reset(start_token)
            business_day_var.reset(day_token)
            saga_id_var.reset(saga_token)


class LearnBusinessDate:
    """A service other than the loan service learns the business date its caller knows (the
    gateway, or another service, says it on every call: ServiceClient), from callers that
    present the internal credential only: a client cannot move a service's date (health and
    info answer without the credential, so this checks it again)."""

    def __init__(self, app: ASGIApp, business: BusinessDay, credential: str) -> None:
        self.app = app
        self.business = business
        self.credential = credential.encode()
        self.header = BUSINESS_DATE_HEADER.lower().encode("latin-1")
        self.credential_header = CREDENTIAL_HEADER.lower().encode("latin-1")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = dict(scope.get("headers") or [])
            told = headers.get(self.header)
            if told and hmac.compare_digest(
                headers.get(self.credential_header, b""), self.credential
            ):
                self.business.learn_text(told.decode("latin-1"))
        await self.app(scope, receive, send)


# --- per-request access for routes ----------------------------------------------------------


class Call:
    """What a route needs of the request: the service's database, settings, and the helper that
    answers a command in the envelope, idempotently when an `Idempotency-Key` is given."""

    def __init__(self, request: Request) -> None:
        self.request = request
        self.db: Database = request.app.state.db
        self.settings: Settings = request.app.state.settings
        self.services: ServiceClient = request.app.state.services

    @property
    def caller(self) -> Caller:
        return caller_of(self.request)

    def acting_user(self, claimed: str | None = None) -> str | None:
        """Who acts: the user the gateway authenticated, else what the body names (a service
        or an operator calling directly, with the credential)."""
        return self.request.headers.get(ACTING_USER) or claimed

    async def answer(
        self, work: Callable[[], Awaitable[Any]], message: str, status: int = 200
    ) -> Response:
        """Run `work` (returning JSON-ready data) and wrap its result in the envelope."""
        key = self.request.headers.get("idempotency-key")
        if key is None:
            return envelope.success(await work(), message, status)

        async def answered() -> idempotency.Answer:
            return idempotency.Answer(status, message, await work())

        body = await self.request.json() if await self.request.body() else None
        # A user's keys are their own: another user choosing the same key neither replays this
        # answer nor learns the key is taken. A service's keys (saga steps) are its own already.
        subject = self.caller.subject
        checked = idempotency.check_key(key)
        answer, replayed = await idempotency.run_once(
            self.db,
            idempotency.owned_key("user", subject, checked) if subject else checked,
            idempotency.fingerprint(self.request.method, self.request.url.path, body),
            timedelta(hours=self.settings.idempotency_ttl_hours),
            answered,
        )
        headers = {"Idempotent-Replayed": "true"} if replayed else None
        return envelope.success(answer.data, answer.message, answer.status, headers)


CallDep = Annotated[Call, Depends(Call)]


def caller_of(request: Request) -> Caller:
    """The user the gateway forwarded this request for (elms.core.principal); read once."""
    if not hasattr(request.state, "caller"):
        request.state.caller = Caller.from_headers(request.headers)
    caller: Caller = request.state.caller
    return caller


CallerDep = Annotated[Caller, Depends(caller_of)]


def _officers_only(caller: CallerDep) -> None:
    caller.require_officer()


def _own_customer(customer_id: str, caller: CallerDep) -> None:
    caller.require_own(customer_id, "Customer", customer_id)


def _services_only(caller: CallerDep) -> None:
    # The internal routes (saga steps, events) serve ELMS's own services, never a user.
    if caller.role is not None:
        raise not_found("Resource", "this path")


# Declared on a route: `dependencies=[OFFICERS_ONLY]`; `OWN_CUSTOMER` where the path names a
# `{customer_id}` that a customer may only be their own; `SERVICES_ONLY` on internal routes.
OFFICERS_ONLY = Depends(_officers_only)
OWN_CUSTOMER = Depends(_own_customer)
SERVICES_ONLY = Depends(_services_only)

# List parameters of api.md §1. page × size is the SQL OFFSET, a bigint: larger page numbers
# are refused with 400 rather than overflowing in the database.
MAX_PAGE = (2**63 - 1) // 100
PageNumber = Annotated[int, Query(ge=0, le=MAX_PAGE)]
PageSize = Annotated[int, Query(ge=1, le=100)]
# A SERIAL id in a path: anything beyond INTEGER is a 400, not a database error.
SerialId = Annotated[int, Path(ge=1, le=2**31 - 1)]


JobsFactory = Callable[[Database, Settings, ServiceClient], list[Job]]


async def _learn_business_date(services: ServiceClient) -> int:
    # The answer's header is the point: the client learns the date from it (ServiceClient).
    await services.call("loan", "GET", "/api/v1/operations/business-date")
    return 0


def _platform_jobs(
    name: str, db: Database, settings: Settings, services: ServiceClient, wake: asyncio.Event
) -> list[Job]:
    """Jobs every service runs: the outbox relay (woken by `wake` as well as on its interval)
    and the purge of expired idempotency keys; and, in manual business-date mode, for the
    services other than the loan service (which owns the date), a read of the business date at
    start and now and then after (they learn it from every loan answer and event as well)."""
    deliver = outbox.http_delivery(services)
    deadline = outbox.delivery_deadline(settings.service_call_timeout_seconds)
    learn = (
        [
            Job(
                "business-date",
                settings.cob_interval_seconds,
                lambda: _learn_business_date(services),
            )
        ]
        if settings.business_date_mode == "manual" and name != "loan"
        else []
    )
    return [
        *learn,
        Job(
            "outbox-relay",
            settings.outbox_interval_seconds,
            lambda: outbox.relay(
                db,
                deliver,
                utcnow(),
                backoff_seconds=settings.outbox_backoff_seconds,
                deadline=deadline,
                lease=outbox.lease_for(deadline),
            ),
            wake,
        ),
        Job(
            "idempotency-purge",
            settings.housekeeping_interval_seconds,
            lambda: idempotency.purge_expired(db),
        ),
    ]


def create_service_app(
    *,
    name: str,
    settings: Settings,
    dsn: str,
    routers: Sequence[APIRouter],
    jobs: JobsFactory,
    middleware: Sequence[tuple[type, dict[str, Any]]] = (),
    public: bool = False,
    on_start: Sequence[Callable[[FastAPI], Awaitable[Any]]] = (),
    on_stop: Sequence[Callable[[], Awaitable[Any]]] = (),
) -> FastAPI:
    """A service: its pool and its client for the other services opened on start, its
    background jobs running while it serves, all closed on stop."""
    from elms.core.actuator import actuator_router

    spec = SERVICES[name]
    credential = service_credential(settings)
    business = BusinessDay(settings.business_date_mode)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = await Database.open(dsn, spec.schema, name, PoolConfig.for_service(spec, settings))
        services = ServiceClient(
            settings.service_urls(), settings.service_call_timeout_seconds, credential, business
        )
        app.state.db = db
        app.state.services = services
        wake = asyncio.Event()
        try:
            for start in on_start:
                await start(app)
            all_jobs = [
                *jobs(db, settings, services),
                *_platform_jobs(name, db, settings, services, wake),
            ]
            async with AsyncExitStack() as stack:
                if settings.outbox_listen:
                    app.state.outbox_listener = await stack.enter_async_context(
                        outbox.listening(dsn, spec.schema, wake)
                    )
                await stack.enter_async_context(background.running(all_jobs))
                yield
            # After the jobs, before the pool closes: what they left queued is written.
            for stop in on_stop:
                await stop()
        finally:
            await services.close()
            await db.close()

    app = FastAPI(
        title=f"ELMS {name} service",
        version=_version(),
        lifespan=lifespan,
        default_response_class=envelope.EnvelopeResponse,
        # FastAPI's pages load their scripts from a CDN; the gateway serves its own (offline).
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.service_name = name
    app.state.business_day = business
    app.state.metrics = Metrics(name)
    if not public and name != "loan":
        app.add_middleware(LearnBusinessDate, business=business, credential=credential)
    # Innermost: what is not canonical reaches no route (and, at the gateway, is still audited).
    app.add_middleware(CanonicalRequest)
    # Outermost first in `middleware`; the request context wraps them all, so that even a
    # response they make themselves (a 429, a 413) carries its request id and is counted.
    for middleware_class, options in reversed(middleware):
        app.add_middleware(middleware_class, **options)
    # A public app (the gateway) guards only its operational endpoints with the credential.
    app.add_middleware(
        RequireServiceCredential,
        credential=credential,
        prefix="/actuator/" if public else "/",
        metrics_token=settings.metrics_token,
    )
    app.add_middleware(RequestContextMiddleware, metrics=app.state.metrics, business=business)
    app.add_exception_handler(RequestValidationError, _validation_failed)
    app.add_exception_handler(DomainError, _domain_refused)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(PoolExhausted, _pool_exhausted)
    for unreachable in (DatabaseUnavailable, *LOST):
        app.add_exception_handler(unreachable, _database_unavailable)
    app.add_exception_handler(ServiceUnavailable, _upstream_unavailable)
    app.add_exception_handler(asyncpg.IntegrityConstraintViolationError, _constraint_violated)
    app.add_exception_handler(asyncpg.CharacterNotInRepertoireError, _unstorable_text)
    app.add_exception_handler(asyncpg.UntranslatableCharacterError, _unstorable_text)
    app.add_exception_handler(asyncpg.DataError, _out_of_range)
    app.add_exception_handler(asyncpg.SerializationError, _retry_later)
    app.add_exception_handler(asyncpg.DeadlockDetectedError, _retry_later)
    for r in (*routers, actuator_router()):
        app.include_router(r)
    return app


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("elms")
    except PackageNotFoundError:
        return "0.0.0"
