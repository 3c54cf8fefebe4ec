"""The public OpenAPI document: the gateway serves the committed docs/openapi.json, it holds
every public route (and no internal one) with the scope each needs and the errors each answers,
and its pages render from the gateway's own files."""

from __future__ import annotations

import json
import re
from typing import get_args

import pytest

from elms.gateway import openapi
from elms.gateway.routes import ROUTES, Body
from elms.gateway.saga.api import SagaType
from elms.gateway.saga.loan_creation import LOAN_CREATION
from elms.gateway.saga.payment_processing import PAYMENT_PROCESSING
from tests.contract.conftest import DOCUMENT, System

REGENERATE = "regenerate it: .venv/bin/elms openapi > docs/openapi.json"
METHODS = {"get", "put", "post", "delete", "patch"}


def _operations(document: dict) -> dict[tuple[str, str], dict]:
    return {
        (method.upper(), path): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    }


def test_the_committed_document_is_the_one_the_code_makes():
    assert DOCUMENT.read_text() == openapi.render(), REGENERATE


def test_the_gateway_serves_the_committed_document(system: System):
    served = system.get("/openapi.json")
    assert served.status_code == 200
    assert served.json() == json.loads(DOCUMENT.read_text()), REGENERATE


def test_the_document_holds_every_public_route_and_nothing_internal():
    document = openapi.document()
    assert document["openapi"] == "3.1.0"
    api = {key for key in _operations(document) if key[1].startswith("/api/")}
    assert api == {(r.method, r.template) for r in ROUTES}
    assert not [path for path in document["paths"] if "internal" in path]


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.method} {r.template}")
def test_each_operation_names_its_scope_its_errors_and_an_example(route):
    document = openapi.document()
    operation = _operations(document)[(route.method, route.template)]
    assert operation["security"] == [{"bearerAuth": [route.scope] if route.scope else []}]
    for status in ("400", "401", "404", "429", "503"):
        answer = operation["responses"][status]["$ref"].rsplit("/", 1)[-1]
        schema = document["components"]["responses"][answer]["content"]["application/json"]
        assert schema["schema"]["allOf"][0] == {"$ref": "#/components/schemas/ErrorEnvelope"}
    success = [s for s in operation["responses"] if s.startswith("2")]
    assert success, "no success response"
    if route.body is not Body.NONE:
        (content,) = operation["requestBody"]["content"].values()
        assert "example" in content


def test_decimals_are_documented_as_the_numbers_the_api_writes():
    loan = openapi.document()["components"]["schemas"]["LoanOut"]["properties"]
    assert loan["loanAmount"]["type"] == "number"
    assert loan["interestRate"]["type"] == "number"


def test_the_saga_types_a_history_filters_on_are_the_engine_s():
    assert set(get_args(SagaType)) == {LOAN_CREATION.saga_type, PAYMENT_PROCESSING.saga_type}


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_documentation_pages_render_from_the_gateway_alone(system: System, page: str):
    answer = system.get(page)
    assert answer.status_code == 200
    html = answer.text
    # Nothing fetched from elsewhere (no CDN), and no inline script for the CSP to block.
    assert not re.search(r"(src|href)=\"(https?:)?//", html), html
    assert not re.search(r"<script>|<script [^>]*>[^<]+</script>", html), html
    policy = answer.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "script-src" not in policy
    for asset in re.findall(r"(?:src|href)=\"(/[^\"]+)\"", html):
        fetched = system.get(asset)
        assert fetched.status_code == 200, asset
        assert len(fetched.content) > 0, asset
