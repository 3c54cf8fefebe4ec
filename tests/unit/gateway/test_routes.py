"""The gateway's route table is the services' public API, and it resolves a path as the services'
own routers do."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
from fastapi import APIRouter
from fastapi.routing import APIRoute
from starlette.routing import Match as StarletteMatch

from elms.customer.api import customers
from elms.gateway import auth
from elms.gateway.routes import ROUTES, NoRoute, Ownership, match
from elms.gateway.saga import api as saga_api
from elms.loan.api import loans
from elms.loan.operations_api import operations
from elms.loan.product_api import loan_products
from elms.payment.api import payments


def _public(*routers: APIRouter) -> SimpleNamespace:
    """A service's public routers' routes, in the order its app includes them."""
    return SimpleNamespace(routes=[route for router in routers for route in router.routes])


SERVICE_ROUTERS = {
    "customer": customers,
    "loan": _public(loans, loan_products, operations),
    "payment": payments,
}


def _shape(template: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", template)


def _served(router) -> set[tuple[str, str]]:
    return {
        (method, _shape(r.path))
        for r in router.routes
        if isinstance(r, APIRoute)
        for method in r.methods
    }


def _table(service: str) -> set[tuple[str, str]]:
    return {(r.method, _shape(r.template)) for r in ROUTES if r.service == service}


@pytest.mark.parametrize("service", sorted(SERVICE_ROUTERS))
def test_the_table_holds_every_public_route_of_each_service_and_no_other(service):
    served = _served(SERVICE_ROUTERS[service])
    # POST /api/v1/loans is served by the gateway's LOAN_CREATION saga, not proxied.
    if service == "loan":
        served.discard(("POST", "/api/v1/loans"))
    assert _table(service) == served


def test_the_table_holds_the_gateways_own_routes():
    assert _table("gateway") == _served(saga_api.router) | _served(auth.router)


# Values for path parameters, among them the literal words of other routes.
_WORDS = ("ID-1", "customer", "loan", "preview", "calculate", "installments", "documents")


def _paths(template: str) -> list[str]:
    params = re.findall(r"\{[^}]+\}", template)
    paths = [template]
    for param in params:
        paths = [p.replace(param, word, 1) for p in paths for word in _WORDS]
    return paths


def _starlette_first(router, method: str, path: str) -> str | None:
    scope = {"type": "http", "method": method, "path": path, "root_path": ""}
    for r in router.routes:
        found, _ = r.matches(scope)
        if found is StarletteMatch.FULL:
            return _shape(r.path)
    return None


@pytest.mark.parametrize("route", [r for r in ROUTES if r.service in SERVICE_ROUTERS])
def test_a_path_resolves_to_the_route_the_service_itself_would_serve(route):
    router = SERVICE_ROUTERS[route.service]
    for path in _paths(route.template):
        served = _starlette_first(router, route.method, path)
        try:
            ours = match(route.method, path).route
        except NoRoute:
            assert served is None, path
            continue
        assert ours.service == route.service or ours.service == "gateway", path
        if ours.service != "gateway":
            assert _shape(ours.template) == served, path


def test_a_parameter_never_takes_the_place_of_a_literal_segment():
    found = match("GET", "/api/v1/loans/customer/installments")
    assert found.route.template == "/api/v1/loans/customer/{customerId}"
    assert found.params == {"customerId": "installments"}


def test_a_payment_id_that_is_a_word_of_another_route_is_still_a_payment_id():
    # As the payment service reads it: a payment named "loan", which no customer owns.
    assert match("GET", "/api/v1/payments/loan").params == {"paymentId": "loan"}


def test_parameters_are_decoded_for_the_ownership_checks():
    assert match("GET", "/api/v1/customers/CUST%2D1").params == {"customerId": "CUST-1"}


@pytest.mark.parametrize(
    "path",
    [
        "/internal/v1/loans/L/payments",
        "/api/v1/internal/v1/events",
        "/api/v1/customers/",
        "/api/v1/loans/L/payments",
        "/api/v1",
        "/",
    ],
)
def test_a_path_of_no_public_route_matches_nothing(path):
    with pytest.raises(NoRoute) as refused:
        match("GET", path)
    assert refused.value.allowed == frozenset()


def test_a_known_path_with_another_method_names_the_methods_it_has():
    with pytest.raises(NoRoute) as refused:
        match("DELETE", "/api/v1/customers/C1")
    assert refused.value.allowed == {"GET", "PUT"}


def test_every_officers_route_a_customer_may_not_use_is_declared():
    officers = {(r.method, r.template) for r in ROUTES if r.ownership is Ownership.OFFICERS}
    assert ("POST", "/api/v1/loans/{loanId}/approve") in officers
    assert ("POST", "/api/v1/customers/{customerId}/credit/reserve") in officers
    assert ("GET", "/api/v1/customers") in officers
