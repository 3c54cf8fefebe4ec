"""Who may call what through the gateway (api.md §6), decided on the public route a request
matched (elms.gateway.routes): the scope the route needs, and for a CUSTOMER what the route names
must be theirs. Someone else's customer, loan or payment is 404, as if it did not exist; an
officers' route is 403. The services check the same again for the principal the gateway passes
them (elms.core.principal), so neither layer alone decides."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from elms.core.errors import invalid, not_found
from elms.gateway.routes import Match, Ownership
from elms.gateway.tokens import Principal, forbidden

# Reads a resource from its service as the gateway itself (None when it does not exist).
Fetch = Callable[[str, str], Awaitable[dict[str, Any] | None]]


def check_scope(principal: Principal, matched: Match) -> None:
    scope = matched.route.scope
    if scope is not None and scope not in principal.scopes:
        raise forbidden(f"This needs the {scope} scope")


def _segment(identifier: str, what: str) -> str:
    """An id as one path segment of the gateway's own read: never a way to another path."""
    if identifier in ("", ".", ".."):
        raise not_found(what, identifier)
    return quote(identifier, safe="")


def _body_id(body: Any, name: str) -> str | None:
    value = body.get(name) if isinstance(body, dict) else None
    if value is not None and not isinstance(value, str):
        raise invalid(name, "must be a string", None)
    return value


async def check_ownership(
    principal: Principal, matched: Match, body: Any, fetch: Fetch, today: Callable[[], str]
) -> None:
    """For a CUSTOMER: what the request names must be theirs (`body` is the JSON body as the
    service will read it, or None)."""
    if not principal.is_customer:
        return
    route, params = matched.route, matched.params
    own = principal.customer_id

    def mine(customer_id: object, what: str, identifier: str) -> None:
        if customer_id != own:
            raise not_found(what, identifier)

    async def loan_owner(loan_id: str) -> None:
        loan = await fetch("loan", f"/api/v1/loans/{_segment(loan_id, 'Loan')}")
        mine(loan and loan.get("customerId"), "Loan", loan_id)

    match route.ownership:
        case Ownership.OFFICERS:
            raise forbidden("This is for officers")
        case Ownership.CUSTOMER_IN_PATH:
            mine(params["customerId"], "Customer", params["customerId"])
        case Ownership.LOAN_IN_PATH:
            await loan_owner(params["loanId"])
        case Ownership.PAYMENT_IN_PATH:
            payment_id = params["paymentId"]
            payment = await fetch("payment", f"/api/v1/payments/{_segment(payment_id, 'Payment')}")
            mine(payment and payment.get("customerId"), "Payment", payment_id)
        case Ownership.CUSTOMER_IN_BODY:
            if _body_id(body, "customerId") != own:
                raise forbidden("A customer applies for their own loans")
        case Ownership.LOAN_IN_BODY:
            if (loan_id := _body_id(body, "loanId")) is not None:
                await loan_owner(loan_id)
        case Ownership.NOTHING:
            pass
    if isinstance(body, dict):
        if any(name in body for name in route.officer_fields):
            raise forbidden(
                "Credit limits, scores, statuses, income, identity and KYC are for officers"
            )
        # Asked only now: the loan's owner was read from the loan service just above, and its
        # answer told the gateway the business date (in manual mode it may just have moved).
        if route.today_only and body.get(route.today_only) not in (None, today()):
            raise forbidden("Customers pay today; backdated payments are for officers")
