"""Who may call what through the gateway (api.md §6).

Each route needs a scope. A CUSTOMER reaches only their own customer, loans and payments: a
path naming someone else's is 404 (as if it did not exist), a list of everyone's is 403, and
the officers' moves (credit, approval, limits, KYC) are not among a customer's scopes."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from elms.core.errors import not_found
from elms.gateway.tokens import Principal, forbidden

# (method, path pattern, scope); the first match decides. Paths are below /api/v1.
RULES: list[tuple[str, re.Pattern[str], str]] = [
    (m, re.compile(p), s)
    for m, p, s in (
        ("POST", r"^customers/[^/]+/credit/(reserve|release)$", "credit:manage"),
        ("GET", r"^customers(/.*)?$", "customer:read"),
        ("*", r"^customers(/.*)?$", "customer:write"),
        ("POST", r"^loans/[^/]+/(approve|reject|disburse)$", "loan:approve"),
        ("POST", r"^loans/[^/]+/documents/[^/]+/verify$", "loan:approve"),
        ("GET", r"^loans(/.*)?$", "loan:read"),
        ("POST", r"^loans/preview$", "loan:read"),
        ("*", r"^loans(/.*)?$", "loan:create"),
        ("POST", r"^payments/calculate$", "payment:read"),
        ("GET", r"^payments(/.*)?$", "payment:read"),
        ("*", r"^payments(/.*)?$", "payment:process"),
        ("POST", r"^saga/loan-creation$", "loan:create"),
        ("GET", r"^saga/(states/[^/]+|history)$", "saga:read"),
        ("POST", r"^saga/[^/]+/cancel$", "saga:manage"),
    )
]
# Fields of a customer only officers change: credit and KYC (api.md §6), and what underwriting
# and KYC were decided on (income, identity), which a customer's word alone must not move.
OFFICER_FIELDS = (
    "creditLimit",
    "kycStatus",
    "accountStatus",
    "creditScore",
    "annualIncome",
    "identificationNumber",
    "identificationType",
    "dateOfBirth",
)

Fetch = Callable[[str, str], Awaitable[dict[str, Any] | None]]


def required_scope(method: str, path: str) -> str:
    for rule_method, pattern, scope in RULES:
        if rule_method in (method, "*") and pattern.match(path):
            return scope
    raise not_found("Resource", f"/api/v1/{path}")


def check_scope(principal: Principal, method: str, path: str) -> None:
    scope = required_scope(method, path)
    if scope not in principal.scopes:
        raise forbidden(f"This needs the {scope} scope")


async def check_ownership(
    principal: Principal, method: str, path: str, body: Any, fetch: Fetch, today: str
) -> None:
    """For a CUSTOMER: the resource must be theirs. `fetch(service, path)` reads a resource's
    data from its service (None when it does not exist)."""
    if not principal.is_customer:
        return
    own = principal.customer_id
    parts = path.split("/")
    resource, rest = parts[0], parts[1:]

    def mine(customer_id: object) -> None:
        if customer_id != own:
            raise not_found("Resource", "/api/v1/" + path)

    async def loan_owner(loan_id: str) -> None:
        loan = await fetch("loan", f"/api/v1/loans/{loan_id}")
        mine(loan and loan.get("customerId"))

    if resource == "customers":
        if not rest:
            raise forbidden("Customers cannot list or create customers")
        mine(rest[0])
        if method == "PUT" and isinstance(body, dict) and any(f in body for f in OFFICER_FIELDS):
            raise forbidden("Credit limits, scores, statuses and KYC are for officers")
    elif resource == "saga":
        # A saga a customer reads must be one they started (checked where it is read).
        if rest == ["loan-creation"] and isinstance(body, dict) and body.get("customerId") != own:
            raise forbidden("A customer applies for their own loans")
    elif resource == "loans":
        if not rest:
            if method == "GET":
                raise forbidden("Customers cannot list every loan")
            if method == "POST" and isinstance(body, dict) and body.get("customerId") != own:
                raise forbidden("A customer applies for their own loans")
        elif rest[0] == "customer":
            mine(rest[1] if len(rest) > 1 else None)
        elif rest[0] != "preview":
            await loan_owner(rest[0])
    elif resource == "payments":
        if not rest or rest[0] == "calculate":
            if isinstance(body, dict) and body.get("loanId"):
                await loan_owner(str(body["loanId"]))
            if not rest and isinstance(body, dict) and body.get("paymentDate") not in (None, today):
                raise forbidden("Customers pay today; backdated payments are for officers")
        elif rest[0] == "customer":
            mine(rest[1] if len(rest) > 1 else None)
        elif rest[0] == "loan":
            await loan_owner(rest[1] if len(rest) > 1 else "")
        else:
            payment = await fetch("payment", f"/api/v1/payments/{rest[0]}")
            mine(payment and payment.get("customerId"))
