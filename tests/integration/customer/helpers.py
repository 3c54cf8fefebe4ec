"""Helpers of the customer service's integration tests: exact JSON, a customer factory, and the
credit invariants read straight from customer_db."""

from __future__ import annotations

import itertools
import json
import secrets
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

CUSTOMERS = "/api/v1/customers"
JSON = {"content-type": "application/json"}

# The customer service's own tests reserve, use and restore credit with no loan behind it (the
# loan service is not running), so the customer's used credit matches no loan's balance.
CREDIT_WITHOUT_LOANS = pytest.mark.books_apart(
    "customer.used_credit", reason="credit used with no loan behind it: a customer-service test"
)


def parse(response: httpx.Response) -> Any:
    """The response body with every fraction read as a Decimal, never as a float."""
    return json.loads(response.text, parse_float=Decimal)


def data(response: httpx.Response) -> Any:
    return parse(response)["data"]


def error_code(response: httpx.Response) -> str:
    return parse(response)["error"]["code"]


def error_fields(response: httpx.Response) -> list[str]:
    return [detail["field"] for detail in parse(response)["error"]["details"]]


def utc_today() -> date:
    return datetime.now(UTC).date()


def naive_utc(iso: str) -> datetime:
    """A timestamp of the API (`…Z`) as the naive UTC datetime the database stores."""
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(UTC).replace(tzinfo=None)


def years_ago(years: int, today: date | None = None) -> date:
    today = today or utc_today()
    try:
        return today.replace(year=today.year - years)
    except ValueError:  # 29 February
        return today.replace(year=today.year - years, day=28)


def unique_email(stem: str = "customer") -> str:
    return f"{stem}.{secrets.token_hex(4)}@example.com"


def customer_body(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "firstName": "Ada",
        "lastName": "Lovelace",
        "email": unique_email(),
        "creditLimit": "10000.00",
        "creditScore": 760,
    }
    body.update(fields)
    return body


async def post_raw(
    client: httpx.AsyncClient, url: str, raw: str, headers: dict[str, str] | None = None
) -> httpx.Response:
    """POST a JSON text exactly as written (for amounts whose digits matter)."""
    return await client.post(url, content=raw, headers={**JSON, **(headers or {})})


async def create_customer(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    response = await client.post(CUSTOMERS, json=customer_body(**fields))
    assert response.status_code == 201, response.text
    return data(response)


async def get_customer(client: httpx.AsyncClient, customer_id: str) -> dict[str, Any]:
    response = await client.get(f"{CUSTOMERS}/{customer_id}")
    assert response.status_code == 200, response.text
    return data(response)


async def update_customer(
    client: httpx.AsyncClient, customer_id: str, **fields: Any
) -> httpx.Response:
    """PUT with the customer's current version unless one is given."""
    if "version" not in fields:
        fields["version"] = (await get_customer(client, customer_id))["version"]
    return await client.put(f"{CUSTOMERS}/{customer_id}", json=fields)


async def reserve(
    client: httpx.AsyncClient,
    customer_id: str,
    amount: str,
    headers: dict[str, str] | None = None,
    **fields: Any,
) -> httpx.Response:
    body = {"amount": amount, "purpose": "LOAN", **fields}
    return await client.post(
        f"{CUSTOMERS}/{customer_id}/credit/reserve", json=body, headers=headers
    )


async def reserve_ok(client: httpx.AsyncClient, customer_id: str, amount: str, **fields: Any):
    response = await reserve(client, customer_id, amount, **fields)
    assert response.status_code == 200, response.text
    return data(response)


async def release(
    client: httpx.AsyncClient,
    customer_id: str,
    reservation_id: str,
    used: str | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    body: dict[str, Any] = {"reservationId": reservation_id, "reason": "test"}
    if used is not None:
        body["actualAmountUsed"] = used
    return await client.post(
        f"{CUSTOMERS}/{customer_id}/credit/release", json=body, headers=headers
    )


async def restore(
    client: httpx.AsyncClient,
    customer_id: str,
    amount: str,
    reference_id: str,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    return await client.post(
        f"/internal/v1/customers/{customer_id}/credit/restore",
        json={"amount": amount, "referenceId": reference_id},
        headers=headers,
    )


# --- the database, read directly ------------------------------------------------------------


async def fetch(service: Any, query: str, *args: Any) -> list[Any]:
    async with service.app.state.db.connection() as conn:
        return await conn.fetch(query, *args)


async def fetchval(service: Any, query: str, *args: Any) -> Any:
    async with service.app.state.db.connection() as conn:
        return await conn.fetchval(query, *args)


async def execute(service: Any, query: str, *args: Any) -> str:
    async with service.app.state.db.connection() as conn:
        return await conn.execute(query, *args)


async def credit_row(service: Any, customer_id: str) -> Any:
    rows = await fetch(
        service,
        "SELECT credit_limit, available_credit, used_credit FROM customers WHERE customer_id = $1",
        customer_id,
    )
    assert len(rows) == 1
    return rows[0]


async def history_rows(service: Any, customer_id: str) -> list[Any]:
    """Every credit_history row of the customer, oldest first."""
    return await fetch(
        service,
        "SELECT * FROM credit_history WHERE customer_id = $1 ORDER BY history_id",
        customer_id,
    )


async def assert_credit_invariant(service: Any, customer_id: str) -> None:
    """available = limit − used − Σ ACTIVE reservations, nothing negative, and the history
    chains from 0 to today's available credit without a gap."""
    credit = await credit_row(service, customer_id)
    active = await fetchval(
        service,
        "SELECT coalesce(sum(reserved_amount), 0) FROM credit_reservations"
        " WHERE customer_id = $1 AND status = 'ACTIVE'",
        customer_id,
    )
    assert credit["available_credit"] >= Decimal("0.00")
    assert credit["used_credit"] >= Decimal("0.00")
    assert credit["available_credit"] == (
        credit["credit_limit"] - credit["used_credit"] - active
    ), (dict(credit), active)
    history = await history_rows(service, customer_id)
    assert history, "every customer has at least its CREDIT_LIMIT_SET row"
    assert history[-1]["new_available_credit"] == credit["available_credit"]
    assert history[0]["transaction_type"] == "CREDIT_LIMIT_SET"
    assert history[0]["previous_available_credit"] == Decimal("0.00")
    for earlier, later in itertools.pairwise(history):
        assert later["previous_available_credit"] == earlier["new_available_credit"], (
            dict(earlier),
            dict(later),
        )


def later_than(iso: str, seconds: int = 1) -> datetime:
    return naive_utc(iso) + timedelta(seconds=seconds)
