"""Routing (issue 5 §1): each request is matched to a public route (elms.gateway.routes), checked
(token, scope, ownership) and forwarded to its service byte for byte: the path as it was sent
and checked (canonical, elms.core.canonical), the query verbatim, the body as received. The
request id travels along, and so does the principal, for the service to check again. An
upstream's envelope comes back as it was; an unreachable upstream is 503 and a slow one 504."""

from __future__ import annotations

import email.message
import re
from typing import Any

from fastapi import APIRouter, Request
from pydantic import TypeAdapter
from starlette.responses import Response

from elms.core import envelope, jsoncodec
from elms.core.business_day import today
from elms.core.context import request_id_var
from elms.core.envelope import Envelope
from elms.core.errors import DomainError, not_found
from elms.core.schemas import Identifier
from elms.core.service_client import ServiceClient, ServiceUnavailable
from elms.gateway import access, routes
from elms.gateway.auth import authenticate
from elms.gateway.breakers import BreakerBoard, own_failure
from elms.gateway.responses import BreakerOut
from elms.gateway.tokens import Principal

UPSTREAMS = ("customer", "loan", "payment")
# OPTIONS too: answered 405 with the path's own methods in Allow, as any other it does not take.
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
# What a client may tell a service, and what a service may tell a client; nothing else passes.
FORWARDED_REQUEST_HEADERS = ("content-type", "accept", "idempotency-key", "if-match")
FORWARDED_RESPONSE_HEADERS = ("content-type", "content-disposition", "idempotent-replayed", "etag")

# Path parameters that name a customer, loan, payment or saga: Identifiers (elms.core.schemas).
IDENTIFIED = frozenset({"customerId", "loanId", "paymentId", "sagaId"})
IDENTIFIER = re.compile(TypeAdapter(Identifier).json_schema()["pattern"])

router = APIRouter(include_in_schema=False)
operations = APIRouter(include_in_schema=False)


@operations.get("/actuator/circuitbreakers", response_model=Envelope[list[BreakerOut]])
async def circuit_breakers(request: Request) -> Response:
    board: BreakerBoard = request.app.state.breakers
    await board.refresh()
    return envelope.success(board.view(), "Circuit breakers")


def raw_path(request: Request) -> str:
    """The path exactly as the client sent it (percent-encoding kept); canonical by now."""
    raw: bytes = request.scope.get("raw_path") or request.scope["path"].encode()
    return raw.decode("ascii")


async def forward(request: Request, service: str, principal: Principal) -> Response:
    services: ServiceClient = request.app.state.services
    headers = {
        name: value
        for name in FORWARDED_REQUEST_HEADERS
        if (value := request.headers.get(name)) is not None
    }
    # Who asks, for the service to check again; never what a client's own headers claim.
    headers.update(principal.caller.headers())
    if request_id := request_id_var.get():
        headers["x-request-id"] = request_id
    if request.client:
        headers["x-forwarded-for"] = request.client.host
    breakers: BreakerBoard = request.app.state.breakers
    content = await request.body()
    upstream = await breakers.guard(
        service,
        lambda: services.send(
            service,
            request.method,
            raw_path(request),
            content=content,
            headers=headers,
            params=request.scope.get("query_string", b"").decode("ascii") or None,
            path_encoded=True,
        ),
        lambda answer: own_failure(answer.status_code, answer.relayed),
    )
    passed = {
        name: value
        for name in FORWARDED_RESPONSE_HEADERS
        if (value := upstream.headers.get(name)) is not None
    }
    return Response(upstream.content, status_code=upstream.status_code, headers=passed)


def _is_json(content_type: str | None) -> bool:
    """Whether a service reads the body as JSON, decided as FastAPI decides it: no Content-Type,
    or application/json or application/*+json in any case, with any parameters."""
    if not content_type:
        return True
    parsed = email.message.Message()
    parsed["content-type"] = content_type
    subtype = parsed.get_content_subtype()
    return parsed.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


async def json_body(request: Request, route: routes.PublicRoute) -> Any:
    """The body as the service will read it, for the access rules: a JSON route's body in a
    content type the service would not read as JSON is 415; JSON that does not parse is 400."""
    raw = await request.body()
    if route.body is not routes.Body.JSON or not raw:
        return None
    if not _is_json(request.headers.get("content-type")):
        raise DomainError(
            "This route takes a JSON body (application/json)", "UNSUPPORTED_MEDIA_TYPE", 415
        )
    try:
        return jsoncodec.loads(raw)
    except ValueError as error:
        raise DomainError(
            "Request body is not valid JSON", code="MALFORMED_REQUEST", status=400
        ) from error


def resource_fetcher(services: ServiceClient) -> access.Fetch:
    """Reads a resource from its service for the ownership rules (None when it does not exist)."""

    async def fetch(owner: str, resource_path: str) -> dict[str, Any] | None:
        found = await services.call(owner, "GET", resource_path)
        if found.status == 404:
            return None
        if not found.ok:
            raise ServiceUnavailable(f"{owner} answered {found.status}")
        return found.data

    return fetch


def matched_route(request: Request) -> routes.Match:
    """The public route the request asks for: 404 when there is none, 405 for another method,
    and 404 when the path's customer, loan, payment or saga id is no identifier ELMS makes or
    takes (nothing can have it)."""
    try:
        found = routes.match(request.method, raw_path(request))
    except routes.NoRoute as missing:
        if missing.allowed:
            raise DomainError(
                f"{request.method} is not allowed here",
                "METHOD_NOT_ALLOWED",
                405,
                headers={"Allow": ", ".join(sorted(missing.allowed))},
            ) from missing
        raise not_found("Resource", raw_path(request)) from missing
    for name, value in found.params.items():
        if name in IDENTIFIED and not IDENTIFIER.fullmatch(value):
            raise not_found(name.removesuffix("Id").title(), value)
    return found


async def authorised(request: Request) -> Principal:
    """The caller's token (401), the route asked for (404, 405) and the scope it needs (403)."""
    principal = await authenticate(request)
    matched = matched_route(request)
    access.check_scope(principal, matched)
    request.state.route = matched
    return principal


async def check_ownership(request: Request, principal: Principal, body: Any) -> None:
    """For a CUSTOMER: what the request names must be theirs (access.py)."""
    await access.check_ownership(
        principal,
        request.state.route,
        body,
        resource_fetcher(request.app.state.services),
        lambda: today().isoformat(),
    )


@router.api_route("/api/v1/{rest:path}", methods=METHODS)
async def route(request: Request) -> Response:
    principal = await authorised(request)
    matched: routes.Match = request.state.route
    if matched.route.service not in UPSTREAMS:
        # The gateway's own routes are served before this one; reaching here is a method the
        # route table and the gateway's routes disagree on.
        raise not_found("Resource", raw_path(request))
    body = await json_body(request, matched.route)
    await check_ownership(request, principal, body)
    return await forward(request, matched.route.service, principal)
