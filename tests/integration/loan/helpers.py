"""Helpers of the loan service's integration tests: loans in each state, payments, and the
loan and customer databases read directly."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.integration.loan.conftest import body, loan_request, new_customer

LOANS = "/api/v1/loans"
JSON = {"content-type": "application/json"}

# A loan-service test that applies payments at /internal/v1/loans/{id}/payments itself plays the
# payment service: no payment is recorded in payment_db and no credit goes back to the customer.
PLAYS_THE_PAYMENT_SERVICE = pytest.mark.books_apart(
    "payment.applied_once",
    "payment.installments",
    "customer.used_credit",
    reason="payments applied by the test, not recorded by the payment service",
)


def data(response: httpx.Response) -> Any:
    return body(response)["data"]


def error(response: httpx.Response) -> dict[str, Any]:
    return body(response)["error"]


def fields(response: httpx.Response) -> set[str]:
    return {detail["field"] for detail in error(response)["details"]}


def detail(response: httpx.Response, field: str) -> dict[str, Any]:
    [found] = [d for d in error(response)["details"] if d["field"] == field]
    return found


def failed_checks(loan: dict[str, Any]) -> list[str]:
    return [
        c["check"] for c in loan["application"]["approvalConditions"]["checks"] if not c["passed"]
    ]


# --- loans in each state ---------------------------------------------------------------------


async def create(system: Any, customer_id: str, **overrides: Any) -> dict[str, Any]:
    response = await system.loan.client.post(LOANS, json=loan_request(customer_id, **overrides))
    assert response.status_code == 201, response.text
    return data(response)


async def approved_loan(system: Any, tag: str, **overrides: Any) -> dict[str, Any]:
    """A loan approved automatically: the customer passes every underwriting check."""
    customer = await new_customer(system.customer.client, tag=tag)
    loan = await create(system, customer["customerId"], **overrides)
    assert loan["status"] == "APPROVED", loan
    return loan


async def pending_loan(system: Any, tag: str, **overrides: Any) -> dict[str, Any]:
    """A loan waiting for an officer: the customer's KYC is not verified."""
    customer = await new_customer(system.customer.client, tag=tag, kyc=False)
    loan = await create(system, customer["customerId"], **overrides)
    assert loan["status"] == "PENDING_APPROVAL", loan
    return loan


async def act(system: Any, loan_id: str, action: str, payload: Any = None) -> httpx.Response:
    return await system.loan.client.post(f"{LOANS}/{loan_id}/{action}", json=payload or {})


async def active_loan(
    system: Any, tag: str, disbursement_date: str | None = None, **overrides: Any
) -> dict[str, Any]:
    loan = await approved_loan(system, tag, **overrides)
    payload = {"disbursementDate": disbursement_date} if disbursement_date else {}
    disbursed = await act(system, loan["loanId"], "disburse", payload)
    assert disbursed.status_code == 200, disbursed.text
    return data(disbursed)


async def get_loan(system: Any, loan_id: str) -> dict[str, Any]:
    response = await system.loan.client.get(f"{LOANS}/{loan_id}")
    assert response.status_code == 200, response.text
    return data(response)


async def schedule(system: Any, loan_id: str) -> dict[str, Any]:
    response = await system.loan.client.get(f"{LOANS}/{loan_id}/installments")
    assert response.status_code == 200, response.text
    return data(response)


# --- payments applied (the payment service's internal call) ----------------------------------


def whole(row: dict[str, Any]) -> dict[str, Any]:
    """An installment paid in full: its interest and its principal."""
    return {
        "installmentNumber": row["installmentNumber"],
        "principalPaid": str(row["principalAmount"]),
        "interestPaid": str(row["interestAmount"]),
    }


async def pay(
    system: Any,
    loan_id: str,
    payment_id: str,
    version: int,
    parts: list[dict[str, Any]],
    paid_at: str = "2026-04-01T09:00:00Z",
) -> httpx.Response:
    return await system.loan.client.post(
        f"/internal/v1/loans/{loan_id}/payments",
        json={
            "paymentId": payment_id,
            "expectedVersion": version,
            "paidAt": paid_at,
            "installments": parts,
        },
    )


# --- the customer service, over HTTP ---------------------------------------------------------


async def get_customer(system: Any, customer_id: str) -> dict[str, Any]:
    response = await system.customer.client.get(f"/api/v1/customers/{customer_id}")
    assert response.status_code == 200, response.text
    return data(response)


async def reserve(system: Any, customer_id: str, amount: str, application_id: str) -> dict:
    reserved = await system.customer.client.post(
        f"/api/v1/customers/{customer_id}/credit/reserve",
        json={
            "amount": amount,
            "purpose": "LOAN",
            "loanApplicationId": application_id,
            "reservationTimeout": 3600,
        },
    )
    assert reserved.status_code == 200, reserved.text
    return data(reserved)


async def reservation(system: Any, customer_id: str, reservation_id: str) -> dict[str, Any]:
    listed = await system.customer.client.get(
        f"/api/v1/customers/{customer_id}/credit/reservations", params={"size": 100}
    )
    assert listed.status_code == 200, listed.text
    [found] = [r for r in data(listed)["content"] if r["reservationId"] == reservation_id]
    return found


# --- the databases, read directly ------------------------------------------------------------


async def loan_fetch(system: Any, query: str, *args: Any) -> list[Any]:
    async with system.loan.app.state.db.connection() as conn:
        return await conn.fetch(query, *args)


async def loan_val(system: Any, query: str, *args: Any) -> Any:
    async with system.loan.app.state.db.connection() as conn:
        return await conn.fetchval(query, *args)


async def loan_execute(system: Any, query: str, *args: Any) -> str:
    async with system.loan.app.state.db.transaction() as conn:
        return await conn.execute(query, *args)


async def events(system: Any, loan_id: str | None = None) -> list[Any]:
    """The loan service's outbox rows (of one loan), oldest first."""
    if loan_id is None:
        return await loan_fetch(system, "SELECT * FROM data_sync_events ORDER BY event_id")
    return await loan_fetch(
        system, "SELECT * FROM data_sync_events WHERE entity_id = $1 ORDER BY event_id", loan_id
    )


async def counts(system: Any) -> dict[str, int]:
    """Rows of every loan_db table a loan request could write."""
    tables = ("loans", "loan_applications", "loan_installments", "data_sync_events")
    return {t: await loan_val(system, f"SELECT count(*) FROM {t}") for t in tables}
