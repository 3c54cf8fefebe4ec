"""Helpers of the saga tests: requests through the gateway, and the books of the services read
back through their own APIs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import httpx

from elms.core.business_day import today
from tests.integration.loan.conftest import body, loan_request, new_customer, relay
from tests.support import books
from tests.support.waiting import until

LOANS = "/api/v1/loans"
PAYMENTS = "/api/v1/payments"
STATES = "/api/v1/saga/states"


def data(response: httpx.Response) -> Any:
    return body(response)["data"]


def error(response: httpx.Response) -> dict[str, Any]:
    return body(response)["error"]


async def customer(system: Any, tag: str, **overrides: Any) -> dict[str, Any]:
    return await new_customer(system.customer.client, tag=tag, **overrides)


async def get_customer(system: Any, customer_id: str) -> dict[str, Any]:
    response = await system.customer.client.get(f"/api/v1/customers/{customer_id}")
    assert response.status_code == 200, response.text
    return data(response)


async def reservations(system: Any, customer_id: str) -> list[dict[str, Any]]:
    response = await system.customer.client.get(
        f"/api/v1/customers/{customer_id}/credit/reservations", params={"size": 100}
    )
    assert response.status_code == 200, response.text
    return data(response)["content"]


async def credit_history(system: Any, customer_id: str) -> list[dict[str, Any]]:
    response = await system.customer.client.get(
        f"/api/v1/customers/{customer_id}/credit/history", params={"size": 100}
    )
    assert response.status_code == 200, response.text
    return list(reversed(data(response)["content"]))


async def apply_for_loan(gateway: Any, customer_id: str, **overrides: Any) -> httpx.Response:
    return await gateway.client.post(LOANS, json=loan_request(customer_id, **overrides))


async def saga_state(gateway: Any, saga_id: str) -> dict[str, Any]:
    response = await gateway.client.get(f"{STATES}/{saga_id}")
    assert response.status_code == 200, response.text
    return data(response)


def step_names(records: list[dict[str, Any]], status: str | None = None) -> list[str]:
    return [r["stepName"] for r in records if status is None or r["status"] == status]


def credit_is_whole(customer: dict[str, Any], reserved: Decimal = Decimal("0.00")) -> bool:
    """available = limit − used − active reservations (architecture.md §4)."""
    return customer["availableCredit"] == (
        customer["creditLimit"] - customer["usedCredit"] - reserved
    )


async def active_loan(
    system: Any,
    gateway: Any,
    tag: str,
    amount: str = "6000.00",
    count: int = 6,
    disbursed: date | None = None,
) -> dict[str, Any]:
    """A customer with an ACTIVE loan, made through the gateway: the LOAN_CREATION saga (applied
    for ten days before `disbursed`), its approval delivered to the customer service, then
    disbursed on `disbursed` (by default the first of the month 100 days ago, so its first
    installments are past due and the later ones are not)."""
    disbursed = disbursed or (today() - timedelta(days=100)).replace(day=1)
    person = await customer(system, tag)
    created = await apply_for_loan(
        gateway,
        person["customerId"],
        loanAmount=amount,
        installmentCount=count,
        applicationDate=str(disbursed - timedelta(days=10)),
    )
    assert created.status_code == 201, created.text
    loan = data(created)
    assert loan["status"] == "APPROVED", loan
    assert await relay(system) == 1
    response = await gateway.client.post(
        f"{LOANS}/{loan['loanId']}/disburse", json={"disbursementDate": str(disbursed)}
    )
    assert response.status_code == 200, response.text
    return data(response)


async def pay(gateway: Any, loan_id: str, amount: Any, on: date | None = None, **extra: Any):
    request = {"loanId": loan_id, "paymentAmount": str(amount), "paymentMethod": "BANK_TRANSFER"}
    if on is not None:
        request["paymentDate"] = str(on)
    return await gateway.client.post(PAYMENTS, json={**request, **extra})


async def get_loan(gateway: Any, loan_id: str) -> dict[str, Any]:
    response = await gateway.client.get(f"{LOANS}/{loan_id}")
    assert response.status_code == 200, response.text
    return data(response)


async def saga_row(gateway: Any, saga_id: str) -> Any:
    async with gateway.app.state.db.connection() as conn:
        return await conn.fetchrow(
            "SELECT status, current_step, completed_steps, version FROM saga_states"
            " WHERE saga_id = $1",
            saga_id,
        )


async def reaching(gateway: Any, step: str, count: int = 1) -> list[str]:
    """The ids of `count` running sagas once they are all calling `step`."""

    async def calling() -> list[str]:
        async with gateway.app.state.db.connection() as conn:
            rows = await conn.fetch(
                "SELECT saga_id FROM saga_states WHERE current_step = $1"
                " AND status = 'IN_PROGRESS' ORDER BY created_at",
                step,
            )
        return [r["saga_id"] for r in rows] if len(rows) >= count else []

    return await until(calling, f"{count} saga(s) at {step}")


@asynccontextmanager
async def holding(db: Any, query: str, *args: Any) -> AsyncIterator[None]:
    """A row locked (`... FOR UPDATE`) by a transaction of the test's, so that a step that needs
    it waits until the block ends."""
    # Straight from the pool: the service's transaction() would make this the ambient
    # transaction of the test's task, which every Database of the process would then join.
    async with db.pool.acquire() as conn, conn.transaction():
        await conn.execute(query, *args)
        yield


def customer_lock(system: Any, customer_id: str) -> Any:
    return holding(
        system.customer.app.state.db,
        "SELECT 1 FROM customers WHERE customer_id = $1 FOR UPDATE",
        customer_id,
    )


def loan_lock(system: Any, loan_id: str) -> Any:
    return holding(
        system.loan.app.state.db, "SELECT 1 FROM loans WHERE loan_id = $1 FOR UPDATE", loan_id
    )


async def first_installment_due(gateway: Any, loan_id: str) -> Decimal:
    """What paying the oldest unpaid installment costs today (penalty or discount included)."""
    quote = await gateway.client.post(f"{PAYMENTS}/calculate", json={"loanId": loan_id})
    assert quote.status_code == 200, quote.text
    return data(quote)["installmentBreakdown"][0]["amountToPay"]


async def books_balance(system: Any, database: Any) -> None:
    """Every event due delivered, then every invariant of architecture.md §4 checked across the
    four schemas (`elms reconcile`)."""
    await books.go_quiet(system.running_apps())
    await books.assert_books_balance(database.admin_url)


async def past_staleness(gateway: Any) -> None:
    """Age every heartbeat past the point where recovery takes a saga over, instead of waiting
    (heartbeats are kept by the database's clock)."""
    seconds = gateway.app.state.settings.saga_stale_after_seconds + 1
    async with gateway.app.state.db.connection() as conn:
        await conn.execute(
            "UPDATE saga_states SET last_heartbeat = last_heartbeat - make_interval(secs => $1)",
            seconds,
        )
