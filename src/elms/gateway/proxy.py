"""Routing (issue 5 §1): `/api/v1/customers/**`, `/api/v1/loans/**`, `/api/v1/payments/**` to
their services through the shared client (pooled, timeouts, replicas). The request id travels
along; an upstream's envelope comes back as it was; an unreachable upstream is 503 and a slow
one 504 (the core's error handlers)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from elms.core import envelope, jsoncodec
from elms.core.clock import utcnow
from elms.core.context import request_id_var
from elms.core.errors import not_found
from elms.core.internal_auth import ACTING_USER
from elms.core.service_client import ServiceClient, ServiceUnavailable
from elms.gateway import access
from elms.gateway.auth import authenticate
from elms.gateway.breakers import BreakerBoard
from elms.gateway.tokens import Principal

UPSTREAMS = {"customers": "customer", "loans": "loan", "payments": "payment"}
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
# What a client may tell a service, and what a service may tell a client; nothing else passes.
FORWARDED_REQUEST_HEADERS = ("content-type", "accept", "idempotency-key", "if-match")
FORWARDED_RESPONSE_HEADERS = ("content-type", "content-disposition", "idempotent-replayed", "etag")

router = APIRouter(include_in_schema=False)
operations = APIRouter(include_in_schema=False)


@operations.get("/actuator/circuitbreakers")
async def circuit_breakers(request: Request) -> Response:
    board: BreakerBoard = request.app.state.breakers
    await board.refresh()
    return envelope.success(board.view(), "Circuit breakers")


async def forward(request: Request, service: str, principal: Principal) -> Response:
    services: ServiceClient = request.app.state.services
    headers = {
        name: value
        for name in FORWARDED_REQUEST_HEADERS
        if (value := request.headers.get(name)) is not None
    }
    # Who approves, rejects or verifies is the token's subject, never what a body claims.
    headers[ACTING_USER] = principal.subject
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
            request.url.path,
            content=content,
            headers=headers,
            params=request.url.query or None,
        ),
        lambda answer: answer.status_code >= 500,
    )
    passed = {
        name: value
        for name in FORWARDED_RESPONSE_HEADERS
        if (value := upstream.headers.get(name)) is not None
    }
    return Response(upstream.content, status_code=upstream.status_code, headers=passed)


def _json_body(raw: bytes, content_type: str | None) -> Any:
    """The body as the access rules look at it; a malformed one is the service's to refuse."""
    if not raw or "json" not in (content_type or ""):
        return None
    try:
        return jsoncodec.loads(raw)
    except ValueError:
        return None


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


async def authorised(request: Request) -> Principal:
    """The caller's token, and the scope the route needs (401, 403)."""
    principal = await authenticate(request)
    access.check_scope(principal, request.method, request.url.path.removeprefix("/api/v1/"))
    return principal


async def check_ownership(request: Request, principal: Principal, body: Any) -> None:
    """For a CUSTOMER: what the request names must be theirs (access.py)."""
    await access.check_ownership(
        principal,
        request.method,
        request.url.path.removeprefix("/api/v1/"),
        body,
        resource_fetcher(request.app.state.services),
        utcnow().date().isoformat(),
    )


@router.api_route("/api/v1/{resource}", methods=METHODS)
@router.api_route("/api/v1/{resource}/{rest:path}", methods=METHODS)
async def route(request: Request, resource: str) -> Response:
    service = UPSTREAMS.get(resource)
    if service is None:
        raise not_found("Resource", f"/api/v1/{resource}")
    principal = await authorised(request)
    body = _json_body(await request.body(), request.headers.get("content-type"))
    await check_ownership(request, principal, body)
    return await forward(request, service, principal)
