"""The public API as one OpenAPI 3.1 document: every route of the route table
(elms.gateway.routes) as the gateway serves it, and the gateway's operational endpoints.

Generated from the models the routes use: the services' routers (their public routes only,
never `/internal/**`) and the gateway's own. What the routers cannot tell is added from the
route table (paths as the gateway spells them, the scope each route needs) and from the tables
below (the errors each route answers with their codes, the Idempotency-Key routes, an example
per request body). Served at `/openapi.json`; `elms openapi` prints it; docs/openapi.json is
the committed copy, held equal to it by tests/contract/test_openapi_document.py.

The gateway routes requests without importing any service; the document alone reads their
models, and only when it is first asked for."""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Iterable
from functools import cache
from typing import Any

from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel, TypeAdapter, create_model

from elms.core import envelope
from elms.core.idempotency import MAX_KEY_LENGTH
from elms.core.internal_auth import HEADER as SERVICE_CREDENTIAL_HEADER
from elms.core.schemas import Identifier
from elms.gateway.openapi_errors import IDEMPOTENT, errors_of
from elms.gateway.openapi_examples import EXAMPLES
from elms.gateway.routes import ROUTES, Ownership, PublicRoute

TITLE = "ELMS API"
DESCRIPTION = """The Enterprise Loan Management System's public API, served by the gateway.

Every answer is an envelope: `data` holds the result of a success, `error` the machine-readable
`code`, message and field `details` of a refusal. Amounts are exact decimals: sent as a JSON
number or a string of at most two decimal places, answered as JSON numbers digit for digit.

Every `/api/v1` call needs `Authorization: Bearer <JWT>` (`elms token` mints one) whose scopes
include the one the operation names; a CUSTOMER reaches only their own customer, loans,
payments and sagas (others' are 404). Lists take `page` (from 0) and `size` (1–100).
Commands that create something or move money accept an `Idempotency-Key`: a repeat answers as
the first did (header `Idempotent-Replayed: true`); the same key with another body is 422
IDEMPOTENCY_KEY_REUSED."""

TAGS = [
    {"name": "customers", "description": "Customers, their addresses and their credit"},
    {"name": "loans", "description": "Loans: the calculator, applications, the lifecycle"},
    {"name": "documents", "description": "A loan's documents"},
    {"name": "loan-products", "description": "The products loans are made under"},
    {"name": "payments", "description": "Quotes and payments"},
    {"name": "sagas", "description": "The LOAN_CREATION and PAYMENT_PROCESSING sagas"},
    {"name": "auth", "description": "Sessions"},
    {
        "name": "operations",
        "description": "The business date and close of business; health, info and metrics",
    },
]
BEARER = "bearerAuth"
CREDENTIAL = "serviceCredential"
SECURITY_SCHEMES = {
    BEARER: {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "A JWT (RS256) with `role` CUSTOMER, LOAN_OFFICER or ADMIN and its `scope`"
        " list; the scopes an operation needs are named in its security requirement.",
    },
    CREDENTIAL: {
        "type": "apiKey",
        "in": "header",
        "name": SERVICE_CREDENTIAL_HEADER,
        "description": "The internal service credential, for operators. (A metrics scraper may"
        " present the ELMS_METRICS_TOKEN as a bearer token to /actuator/prometheus instead.)",
    },
}
# The gateway's operational endpoints: open to a load balancer, or for operators only.
OPEN_OPERATIONS = {"/actuator/health", "/actuator/info"}
IDENTIFIER_SCHEMA = TypeAdapter(Identifier).json_schema()
_PARAM = re.compile(r"\{[^}]+\}")


def _shape(template: str) -> str:
    return _PARAM.sub("{}", template)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _service_routes() -> dict[str, list[APIRoute]]:
    """Every route each service's application declares (never served from here: an
    application opens nothing until it starts), and the gateway's own."""
    from elms.core.actuator import actuator_router
    from elms.core.config import Settings
    from elms.gateway import auth
    from elms.gateway.proxy import UPSTREAMS, operations
    from elms.gateway.saga import api as saga_api
    from elms.services import app_factory

    def api_routes(routes: Iterable[Any]) -> list[APIRoute]:
        # An application holds the routers it includes as they were declared (their prefixes
        # in their routes' paths); none is included under a prefix of its own.
        found = [context.original_route for context in iter_route_contexts(list(routes))]
        return [r for r in found if isinstance(r, APIRoute)]

    settings = Settings()
    found = {
        service: api_routes(app_factory(service)(settings, "postgresql://unused").routes)
        for service in UPSTREAMS
    }
    found["gateway"] = api_routes([*saga_api.router.routes, *auth.router.routes])
    found["operations"] = api_routes([*operations.routes, *actuator_router().routes])
    return found


def _public_routes() -> list[tuple[APIRoute, PublicRoute | None]]:
    """The routes the public sees: each service's own where the table sends the request to it
    (POST /api/v1/loans is the gateway's saga, not the loan service's route)."""
    table = {(r.method, _shape(r.template)): r for r in ROUTES}
    bodies = _gateway_bodies()
    found: list[tuple[APIRoute, PublicRoute | None]] = []
    for service, routes in _service_routes().items():
        for route in routes:
            for method in sorted(route.methods):
                if service == "operations":
                    found.append((route, None))
                    continue
                public = table.get((method, _shape(route.path)))
                if public is not None and public.service == service:
                    reads = bodies.get((method, public.template))
                    found.append((_stand_in(route, *reads) if reads else route, public))
    return found


# A document-only model: what `POST /api/v1/saga/loan-creation` reads, the loan request and
# the saga's own options side by side (the route reads both from one body).
def _loan_creation_request() -> type[BaseModel]:
    from elms.gateway.saga.schemas import SagaOptions
    from elms.loan.schemas import LoanRequest

    fields: dict[str, Any] = {
        name: (field.annotation, field) for name, field in SagaOptions.model_fields.items()
    }
    return create_model(
        "LoanCreationRequest",
        __base__=LoanRequest,
        __doc__="A loan request, and how its saga should run",
        **fields,
    )


def _gateway_bodies() -> dict[tuple[str, str], tuple[type[BaseModel], Any]]:
    """The gateway's own commands read their body raw (the owning service validates it before
    a saga starts): the request each reads, and its success when that is not the route's."""
    from elms.loan.responses import LoanDetailsOut
    from elms.loan.schemas import LoanRequest
    from elms.payment.responses import PaymentProcessedOut
    from elms.payment.schemas import PaymentRequest

    return {
        ("POST", "/api/v1/loans"): (LoanRequest, envelope.Envelope[LoanDetailsOut]),
        ("POST", "/api/v1/payments"): (PaymentRequest, envelope.Envelope[PaymentProcessedOut]),
        ("POST", "/api/v1/saga/loan-creation"): (_loan_creation_request(), None),
    }


def _stand_in(route: APIRoute, body: type[BaseModel], answer: Any) -> APIRoute:
    """The route as the document shows it: reading `body` and answering `answer`."""

    async def endpoint(**_: Any) -> None:  # never served
        return None

    endpoint.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter("body", inspect.Parameter.KEYWORD_ONLY, annotation=body)]
    )
    endpoint.__doc__ = route.endpoint.__doc__
    return APIRoute(
        route.path,
        endpoint,
        methods=list(route.methods),
        name=route.name,
        status_code=route.status_code,
        response_model=answer or route.response_model,
        responses=route.responses,
        tags=route.tags,
    )


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _rename_path(path: str, public: PublicRoute | None) -> tuple[str, dict[str, str]]:
    """The path as the gateway spells it (`{customerId}` where the service says
    `{customer_id}`), and the parameters renamed."""
    if public is None:
        return path, {}
    ours = _PARAM.findall(path)
    theirs = _PARAM.findall(public.template)
    return public.template, {a[1:-1]: b[1:-1] for a, b in zip(ours, theirs, strict=True)}


def _identify(parameter: dict[str, Any], renamed: dict[str, str]) -> None:
    """A path's identifier as the gateway spells it; a string one is an identifier as ELMS makes
    and takes them (anything else names nothing: 404, or 400 if it is not canonical)."""
    parameter["name"] = renamed.get(parameter["name"], parameter["name"])
    if parameter["schema"].get("type") == "string":
        parameter["schema"] = {**parameter["schema"], **IDENTIFIER_SCHEMA}


def _security(public: PublicRoute) -> list[dict[str, list[str]]]:
    return [{BEARER: [public.scope] if public.scope else []}]


def _tag(path: str) -> str:
    if "/documents" in path:
        return "documents"
    resource = path.removeprefix("/api/v1/").split("/")[0]
    return {"saga": "sagas"}.get(resource, resource)


def _operations_security(path: str) -> list[dict[str, list[str]]]:
    if path in OPEN_OPERATIONS:
        return []
    return [{CREDENTIAL: []}]


def _access_note(public: PublicRoute) -> str:
    scope = f"Needs the `{public.scope}` scope." if public.scope else "Any signed-in user."
    if public.ownership is Ownership.OFFICERS:
        return f"{scope} For officers and admins only (a CUSTOMER gets 403)."
    if public.ownership is Ownership.NOTHING:
        return scope
    return f"{scope} A CUSTOMER: {public.ownership.value} (else 404)."


def _idempotency_header() -> dict[str, Any]:
    return {
        "name": "Idempotency-Key",
        "in": "header",
        "required": False,
        "description": "Makes the command safe to repeat: a repeat with the same key and body "
        "answers as the first did and changes nothing",
        "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH},
    }


def _describe_operation(
    operation: dict[str, Any],
    route: APIRoute,
    public: PublicRoute | None,
    method: str,
    path: str,
    shared: dict[str, Any],
) -> None:
    """What the router could not say: who may call it, its errors, its example."""
    operation["operationId"] = _camel(route.name)
    responses = operation["responses"]
    responses.pop("422", None)  # FastAPI's own validation error: ours is a 400 (below)
    if public is None:
        operation["tags"] = ["operations"]
        operation["security"] = _operations_security(path)
    else:
        operation["tags"] = [_tag(path)]
        operation["security"] = _security(public)
        note = _access_note(public)
        operation["description"] = f"{operation.get('description', '').strip()}\n\n{note}".strip()
        if (method, path) in IDEMPOTENT:
            operation.setdefault("parameters", []).append(_idempotency_header())
    for status, codes in errors_of(method, path, public).items():
        # One response per status and set of codes, shared by the operations that answer it.
        name = f"Error{status}_{'_'.join(sorted(codes))}"
        shared.setdefault(name, _error_response(status, codes))
        responses[str(status)] = {"$ref": f"#/components/responses/{name}"}
    example = EXAMPLES.get((method, path))
    if example is not None:
        (media,) = operation["requestBody"]["content"].values()  # JSON, or a multipart form
        media["example"] = example


_REASONS = {
    400: "The request is malformed or a field is invalid (every problem, each with its field)",
    401: "No valid bearer token (missing, expired, badly signed or its session ended)",
    403: "Authenticated, but the token's scope or role does not allow this",
    404: "No such resource (or, for a CUSTOMER, not theirs)",
    405: "The path does not take this method",
    409: "The change conflicts with the current data",
    413: "The request body is too large",
    415: "The body is not JSON",
    422: "A business rule refused the request",
    429: "Too many requests; wait as Retry-After says",
    500: "The saga could neither finish nor undo the request; an operator has it",
    503: "A service the request needs is unavailable; retry after Retry-After",
    504: "A service the request needs was too slow, or the saga timed out and was undone",
}


def _error_response(status: int, codes: list[str]) -> dict[str, Any]:
    schema = {
        "allOf": [
            _ref("ErrorEnvelope"),
            {"properties": {"error": {"properties": {"code": {"enum": sorted(codes)}}}}},
        ]
    }
    answer: dict[str, Any] = {
        "description": f"{_REASONS[status]}. Codes: {', '.join(sorted(codes))}",
        "content": {"application/json": {"schema": schema}},
    }
    if status in (429, 503):
        answer["headers"] = {
            "Retry-After": {"description": "Seconds to wait", "schema": {"type": "string"}}
        }
    return answer


def build() -> dict[str, Any]:
    """The document, made afresh from the routers and the tables."""
    from elms.core.web import _version

    pairs = _public_routes()
    doc = get_openapi(
        title=TITLE,
        version=_version(),
        openapi_version="3.1.0",
        description=DESCRIPTION,
        routes=[*{id(route): _documented(route) for route, _ in pairs}.values(), _ERRORS],
        tags=TAGS,
    )
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    doc["components"]["securitySchemes"] = SECURITY_SCHEMES
    paths: dict[str, dict[str, Any]] = {}
    described: list[tuple[dict[str, Any], APIRoute, PublicRoute | None, str, str]] = []
    for route, public in pairs:
        path, renamed = _rename_path(route.path, public)
        for method in sorted(route.methods) if public is None else [public.method]:
            operation = doc["paths"][route.path][method.lower()]
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path":
                    _identify(parameter, renamed)
            paths.setdefault(path, {})[method.lower()] = operation
            described.append((operation, route, public, method, path))
    doc["paths"] = paths  # the error envelope's own route is left out
    shared = doc["components"].setdefault("responses", {})
    for operation, route, public, method, path in described:
        _describe_operation(operation, route, public, method, path, shared)
    doc["components"]["responses"] = dict(sorted(shared.items()))
    return _renamed_components(doc)


async def _error_envelope() -> None:  # never served: it puts ErrorEnvelope in the components
    return None


_ERRORS = APIRoute(
    "/error-envelope", _error_envelope, responses={400: {"model": envelope.ErrorEnvelope}}
)


# Names FastAPI makes up, as a reader would call them.
COMPONENT_NAMES = {"Body_upload_document_api_v1_loans__loan_id__documents_post": "DocumentUpload"}


def _renamed_components(doc: dict[str, Any]) -> dict[str, Any]:
    text = json.dumps(doc)
    for made_up, name in COMPONENT_NAMES.items():
        text = text.replace(f'"{made_up}"', f'"{name}"')
        text = text.replace(f'/schemas/{made_up}"', f'/schemas/{name}"')
    renamed: dict[str, Any] = json.loads(text)
    return renamed


def _documented(route: APIRoute) -> APIRoute:
    """The route as the document shows it (the routers' own stay as they are)."""
    if route.include_in_schema:
        return route
    copy = APIRoute.__new__(APIRoute)
    copy.__dict__.update(route.__dict__)
    copy.include_in_schema = True
    return copy


@cache
def document() -> dict[str, Any]:
    return build()


def render() -> str:
    """The document as committed in docs/openapi.json."""
    return json.dumps(document(), indent=2, ensure_ascii=False) + "\n"
