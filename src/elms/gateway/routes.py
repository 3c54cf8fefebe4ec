"""The public API as the gateway serves it (api.md §2–§6): every route by method and template,
the service that owns it, the scope it needs, and what a CUSTOMER must own to use it. A request
that matches no route here is refused before it leaves the gateway; `/internal/**` is never
here, however it is spelt. Pure: matching takes a canonical path (elms.core.canonical).

The table is the services' public routes written once more, on purpose: the gateway imports no
service. tests/unit/gateway/test_routes.py holds it equal to the services' own routers."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from urllib.parse import unquote


class Ownership(Enum):
    """What a CUSTOMER's request must be about for it to be theirs."""

    NOTHING = "nothing a customer owns is named"  # the calculator, their own sagas
    OFFICERS = "officers and admins only"
    CUSTOMER_IN_PATH = "the path's {customerId} is theirs"
    LOAN_IN_PATH = "the path's {loanId} is one of their loans"
    PAYMENT_IN_PATH = "the path's {paymentId} is one of their payments"
    CUSTOMER_IN_BODY = "the body's customerId is theirs"
    LOAN_IN_BODY = "the body's loanId is one of their loans"


class Body(Enum):
    NONE = "none"
    JSON = "json"
    MULTIPART = "multipart"


@dataclass(frozen=True)
class PublicRoute:
    method: str
    template: str
    service: str  # customer, loan, payment, or gateway for the routes it serves itself
    scope: str | None  # None: any authenticated user (logout)
    ownership: Ownership
    body: Body = Body.NONE
    # Body fields a CUSTOMER may not set (what underwriting and KYC decided on).
    officer_fields: tuple[str, ...] = ()
    # A body field a CUSTOMER may leave out or set only to today (no backdated payments).
    today_only: str | None = None
    segments: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "segments", tuple(self.template.strip("/").split("/")))

    def params(self, parts: list[str]) -> dict[str, str] | None:
        """The path's parameters (decoded) when `parts` fit this template, else None."""
        if len(parts) != len(self.segments):
            return None
        found = {}
        for template, part in zip(self.segments, parts, strict=True):
            if template.startswith("{"):
                if not part:
                    return None
                found[template[1:-1]] = unquote(part)
            elif template != part:
                return None
        return found

    @property
    def specificity(self) -> tuple[bool, ...]:
        # A literal segment beats a parameter at the same place (`/loans/customer/{id}` before
        # `/loans/{loanId}/installments`), as the services' routers order them.
        return tuple(s.startswith("{") for s in self.segments)


_CUSTOMER_OFFICER_FIELDS = (
    "creditLimit",
    "kycStatus",
    "accountStatus",
    "creditScore",
    "annualIncome",
    "identificationNumber",
    "identificationType",
    "dateOfBirth",
)
_C, _L, _P, _G = "customer", "loan", "payment", "gateway"
_O = Ownership
_CUSTOMER = "/api/v1/customers/{customerId}"
_LOAN = "/api/v1/loans/{loanId}"
_PRODUCTS = "/api/v1/loan-products"
_OPERATIONS = "/api/v1/operations"

ROUTES: tuple[PublicRoute, ...] = (
    # customers (api.md §2)
    PublicRoute("POST", "/api/v1/customers", _C, "customer:write", _O.OFFICERS, Body.JSON),
    PublicRoute("GET", "/api/v1/customers", _C, "customer:read", _O.OFFICERS),
    PublicRoute("GET", _CUSTOMER, _C, "customer:read", _O.CUSTOMER_IN_PATH),
    PublicRoute(
        "PUT",
        _CUSTOMER,
        _C,
        "customer:write",
        _O.CUSTOMER_IN_PATH,
        Body.JSON,
        officer_fields=_CUSTOMER_OFFICER_FIELDS,
    ),
    PublicRoute(
        "POST", f"{_CUSTOMER}/addresses", _C, "customer:write", _O.CUSTOMER_IN_PATH, Body.JSON
    ),
    PublicRoute("GET", f"{_CUSTOMER}/addresses", _C, "customer:read", _O.CUSTOMER_IN_PATH),
    PublicRoute(
        "PUT",
        f"{_CUSTOMER}/addresses/{{addressId}}",
        _C,
        "customer:write",
        _O.CUSTOMER_IN_PATH,
        Body.JSON,
    ),
    PublicRoute(
        "DELETE", f"{_CUSTOMER}/addresses/{{addressId}}", _C, "customer:write", _O.CUSTOMER_IN_PATH
    ),
    PublicRoute("POST", f"{_CUSTOMER}/credit/reserve", _C, "credit:manage", _O.OFFICERS, Body.JSON),
    PublicRoute("POST", f"{_CUSTOMER}/credit/release", _C, "credit:manage", _O.OFFICERS, Body.JSON),
    PublicRoute(
        "GET", f"{_CUSTOMER}/credit/reservations", _C, "customer:read", _O.CUSTOMER_IN_PATH
    ),
    PublicRoute("GET", f"{_CUSTOMER}/credit/history", _C, "customer:read", _O.CUSTOMER_IN_PATH),
    # loans (api.md §3); applying runs the LOAN_CREATION saga at the gateway
    PublicRoute("POST", "/api/v1/loans/preview", _L, "loan:read", _O.NOTHING, Body.JSON),
    PublicRoute("POST", "/api/v1/loans", _G, "loan:create", _O.CUSTOMER_IN_BODY, Body.JSON),
    PublicRoute("GET", "/api/v1/loans", _L, "loan:read", _O.OFFICERS),
    PublicRoute("GET", "/api/v1/loans/customer/{customerId}", _L, "loan:read", _O.CUSTOMER_IN_PATH),
    PublicRoute("GET", _LOAN, _L, "loan:read", _O.LOAN_IN_PATH),
    PublicRoute("GET", f"{_LOAN}/installments", _L, "loan:read", _O.LOAN_IN_PATH),
    PublicRoute(
        "POST",
        f"{_LOAN}/installments/{{installmentNumber}}/waive-penalty",
        _L,
        "loan:approve",
        _O.OFFICERS,
        Body.JSON,
    ),
    PublicRoute("GET", f"{_LOAN}/delinquency-history", _L, "loan:read", _O.LOAN_IN_PATH),
    PublicRoute("GET", f"{_LOAN}/payoff", _L, "loan:read", _O.LOAN_IN_PATH),
    PublicRoute("POST", f"{_LOAN}/approve", _L, "loan:approve", _O.OFFICERS, Body.JSON),
    PublicRoute("POST", f"{_LOAN}/reject", _L, "loan:approve", _O.OFFICERS, Body.JSON),
    PublicRoute("POST", f"{_LOAN}/disburse", _L, "loan:approve", _O.OFFICERS, Body.JSON),
    PublicRoute("POST", f"{_LOAN}/cancel", _L, "loan:create", _O.LOAN_IN_PATH, Body.JSON),
    PublicRoute("POST", f"{_LOAN}/documents", _L, "loan:create", _O.LOAN_IN_PATH, Body.MULTIPART),
    PublicRoute("GET", f"{_LOAN}/documents", _L, "loan:read", _O.LOAN_IN_PATH),
    PublicRoute(
        "GET", f"{_LOAN}/documents/{{documentId}}/content", _L, "loan:read", _O.LOAN_IN_PATH
    ),
    PublicRoute(
        "POST",
        f"{_LOAN}/documents/{{documentId}}/verify",
        _L,
        "loan:approve",
        _O.OFFICERS,
        Body.JSON,
    ),
    # loan products: administrators change them, officers read them, anyone lists those on offer
    # (a customer only with ?active=true, which the loan service checks)
    PublicRoute("POST", _PRODUCTS, _L, "product:manage", _O.OFFICERS, Body.JSON),
    PublicRoute("GET", _PRODUCTS, _L, "loan:read", _O.NOTHING),
    PublicRoute("GET", f"{_PRODUCTS}/{{productCode}}", _L, "loan:read", _O.OFFICERS),
    PublicRoute(
        "PUT", f"{_PRODUCTS}/{{productCode}}", _L, "product:manage", _O.OFFICERS, Body.JSON
    ),
    PublicRoute("GET", f"{_PRODUCTS}/{{productCode}}/versions", _L, "loan:read", _O.OFFICERS),
    # the business day: anyone signed in reads the date; administrators move it
    PublicRoute("GET", f"{_OPERATIONS}/business-date", _L, "loan:read", _O.NOTHING),
    PublicRoute(
        "POST", f"{_OPERATIONS}/business-date", _L, "operations:manage", _O.OFFICERS, Body.JSON
    ),
    PublicRoute("GET", f"{_OPERATIONS}/cob-runs", _L, "loan:read", _O.OFFICERS),
    # payments (api.md §4); paying runs the PAYMENT_PROCESSING saga at the gateway
    PublicRoute(
        "POST", "/api/v1/payments/calculate", _P, "payment:read", _O.LOAN_IN_BODY, Body.JSON
    ),
    PublicRoute(
        "POST",
        "/api/v1/payments",
        _G,
        "payment:process",
        _O.LOAN_IN_BODY,
        Body.JSON,
        today_only="paymentDate",
    ),
    PublicRoute("GET", "/api/v1/payments/{paymentId}", _P, "payment:read", _O.PAYMENT_IN_PATH),
    PublicRoute(
        "GET", "/api/v1/payments/customer/{customerId}", _P, "payment:read", _O.CUSTOMER_IN_PATH
    ),
    PublicRoute("GET", "/api/v1/payments/loan/{loanId}", _P, "payment:read", _O.LOAN_IN_PATH),
    # sagas (api.md §5): a customer sees only the sagas they started (checked where read)
    PublicRoute(
        "POST", "/api/v1/saga/loan-creation", _G, "loan:create", _O.CUSTOMER_IN_BODY, Body.JSON
    ),
    PublicRoute("GET", "/api/v1/saga/states/{sagaId}", _G, "saga:read", _O.NOTHING),
    PublicRoute("GET", "/api/v1/saga/history", _G, "saga:read", _O.NOTHING),
    PublicRoute("POST", "/api/v1/saga/{sagaId}/cancel", _G, "saga:manage", _O.OFFICERS),
    PublicRoute("POST", "/api/v1/auth/logout", _G, None, _O.NOTHING),
)


@dataclass(frozen=True)
class Match:
    route: PublicRoute
    params: dict[str, str]


class NoRoute(Exception):
    """No public route has this path (`allowed` is empty), or none has it for this method."""

    def __init__(self, allowed: frozenset[str]) -> None:
        super().__init__(", ".join(sorted(allowed)))
        self.allowed = allowed


def match(method: str, raw_path: str, routes: tuple[PublicRoute, ...] = ROUTES) -> Match:
    """The route a canonical path (as sent, percent-encoded) and method ask for; raises NoRoute."""
    parts = raw_path.removeprefix("/").split("/")  # a trailing slash is a part of its own
    found: list[tuple[tuple[bool, ...], PublicRoute, dict[str, str]]] = []
    for route in routes:
        params = route.params(parts)
        if params is not None:
            found.append((route.specificity, route, params))
    if not found:
        raise NoRoute(frozenset())
    found.sort(key=lambda f: f[0])
    for _, route, params in found:
        if route.method == method:
            return Match(route, params)
    # The resource is the most literal template's: `/loans/preview` takes POST, whatever
    # `/loans/{loanId}` would make of the word.
    best = found[0][0]
    raise NoRoute(frozenset(route.method for spec, route, _ in found if spec == best))
