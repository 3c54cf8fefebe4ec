"""How a request becomes a saga: who asks and what, a repeat of an earlier request found by
its `Idempotency-Key`, the request checked by the service that owns its rules, and the saga
recorded (with the key's claim) and set going."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from fastapi import Request

from elms.core import idempotency
from elms.core.config import Settings
from elms.core.errors import DomainError
from elms.core.service_client import ServiceUnavailable
from elms.gateway.breakers import BreakerBoard, own_failure
from elms.gateway.proxy import authorised, check_ownership, json_body
from elms.gateway.saga.engine import SagaEngine
from elms.gateway.saga.state import SagaState
from elms.gateway.saga.views import refusal
from elms.gateway.tokens import Principal


async def _json_object(request: Request) -> dict[str, Any]:
    body = await json_body(request, request.state.route.route)
    if not isinstance(body, dict):
        raise DomainError(
            "Request body must be a JSON object", code="MALFORMED_REQUEST", status=400
        )
    return body


async def validated(request: Request, service: str, path: str, body: Any) -> dict[str, Any]:
    """The request as the owning service validated it (its 400 passed on as it is)."""
    services = request.app.state.services
    breakers: BreakerBoard = request.app.state.breakers
    answer = await breakers.guard(
        service,
        lambda: services.call(service, "POST", path, body),
        lambda a: own_failure(a.status, a.relayed),
    )
    if answer.status >= 500:
        raise ServiceUnavailable(f"{service} answered {answer.status}")
    if not answer.ok:
        raise refusal(answer.status, answer.error)
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
    return idempotency.owned_key("saga", principal.subject, idempotency.check_key(key))


async def read_command(request: Request) -> tuple[Command, SagaState | None]:
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


def started_by(principal: Principal) -> dict[str, Any]:
    return {
        "subject": principal.subject,
        "role": principal.role.value,
        "customerId": principal.customer_id,
    }


async def begin(request: Request, command: Command, saga: SagaState) -> tuple[SagaState, bool]:
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
