"""Helpers of the payment service's integration tests: active loans with due dates relative to
today, the steps of the PAYMENT_PROCESSING saga driven by hand over real HTTP, and payment_db
read directly."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import httpx

from elms.core.business_day import today
from tests.integration.loan.conftest import body, loan_request, new_customer, relay

TODAY = today()
PAYMENTS = "/api/v1/payments"
CALCULATE = f"{PAYMENTS}/calculate"
RECORD = "/internal/v1/payments"
RATE = Decimal("0.001")  # the default discount and penalty rate per day
ZERO = Decimal("0.00")


def data(response: httpx.Response) -> Any:
    return body(response)["data"]


def error(response: httpx.Response) -> dict[str, Any]:
    return body(response)["error"]


def fields(response: httpx.Response) -> set[str]:
    return {detail["field"] for detail in error(response)["details"]}


def cents(amount: Decimal) -> Decimal:
    return amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def wire(value: Any) -> Any:
    """A parsed response made ready to send again: money as strings."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {k: wire(v) for k, v in value.items()}
    if isinstance(value, list):
        return [wire(v) for v in value]
    return value


# --- loans -----------------------------------------------------------------------------------


async def customer(system: Any, tag: str, **overrides: Any) -> dict[str, Any]:
    return await new_customer(system.customer.client, tag=tag, **overrides)


async def approved_loan(
    system: Any,
    customer_id: str,
    application_id: str,
    amount: str = "6000.00",
    count: int = 6,
    applied: date | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """An automatically approved loan on reserved credit, its approval delivered to the customer
    service (so the customer's used credit can be restored as principal is repaid); `extra`
    goes into the loan request (a `productCode`, say)."""
    applied = applied or TODAY - timedelta(days=110)
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
    created = await system.loan.client.post(
        "/api/v1/loans",
        json=loan_request(
            customer_id,
            loanAmount=amount,
            installmentCount=count,
            applicationId=application_id,
            applicationDate=str(applied),
            **extra,
        ),
    )
    assert created.status_code == 201, created.text
    loan = data(created)
    assert loan["status"] == "APPROVED", loan
    assert await relay(system) == 1
    return loan


async def active_loan(
    system: Any,
    customer_id: str,
    application_id: str,
    amount: str = "6000.00",
    count: int = 6,
    disbursed: date | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """An ACTIVE loan disbursed on `disbursed`: by default on the first of the month 100 days
    ago, so its first three installments are past due, the later ones are not, and its first
    due date is a whole month after the disbursement (a payment cannot be dated before it)."""
    disbursed = disbursed or (TODAY - timedelta(days=100)).replace(day=1)
    loan = await approved_loan(
        system, customer_id, application_id, amount, count, disbursed - timedelta(days=10), **extra
    )
    response = await system.loan.client.post(
        f"/api/v1/loans/{loan['loanId']}/disburse", json={"disbursementDate": str(disbursed)}
    )
    assert response.status_code == 200, response.text
    active = data(response)
    assert active["status"] == "ACTIVE"
    return active


async def borrower_with_loan(system: Any, tag: str, **loan: Any) -> dict[str, Any]:
    """A new customer with one ACTIVE loan (see `active_loan`)."""
    person = await customer(system, tag)
    return await active_loan(system, person["customerId"], f"APP-{tag.upper()}", **loan)


async def get_loan(system: Any, loan_id: str) -> dict[str, Any]:
    response = await system.loan.client.get(f"/api/v1/loans/{loan_id}")
    assert response.status_code == 200, response.text
    return data(response)


async def installments(system: Any, loan_id: str) -> list[dict[str, Any]]:
    response = await system.loan.client.get(f"/api/v1/loans/{loan_id}/installments")
    assert response.status_code == 200, response.text
    return data(response)["installments"]


def due(row: dict[str, Any]) -> date:
    return date.fromisoformat(row["dueDate"])


# --- the saga's steps, by hand -----------------------------------------------------------------


async def calculate(system: Any, loan_id: str, **request: Any) -> httpx.Response:
    return await system.payment.client.post(CALCULATE, json={"loanId": loan_id, **request})


async def record(
    system: Any,
    loan_id: str,
    amount: str,
    on: date | None = None,
    method: str = "BANK_TRANSFER",
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> httpx.Response:
    request = {"loanId": loan_id, "paymentAmount": amount, "paymentMethod": method, **extra}
    if on is not None:
        request["paymentDate"] = str(on)
    return await system.payment.client.post(RECORD, json=request, headers=headers)


async def recorded(system: Any, loan_id: str, amount: str, on: date | None = None, **extra: Any):
    response = await record(system, loan_id, amount, on, **extra)
    assert response.status_code == 201, response.text
    payment = data(response)
    assert payment["status"] == "PENDING"
    return payment


async def apply(system: Any, payment: dict[str, Any]) -> httpx.Response:
    """APPLY_TO_LOAN: the loan service applies what the recorded payment carries."""
    return await system.loan.client.post(
        f"/internal/v1/loans/{payment['loanId']}/payments", json=wire(payment["applyRequest"])
    )


async def restore(system: Any, payment: dict[str, Any]) -> None:
    """RESTORE_CREDIT: the principal repaid returns to the customer's available credit."""
    restored = await system.customer.client.post(
        f"/internal/v1/customers/{payment['customerId']}/credit/restore",
        json={"amount": str(payment["principalPaid"]), "referenceId": payment["paymentId"]},
    )
    assert restored.status_code == 200, restored.text


async def complete(system: Any, payment_id: str) -> httpx.Response:
    return await system.payment.client.post(f"{RECORD}/{payment_id}/complete")


async def fail(system: Any, payment_id: str, reason: str = "Declined") -> httpx.Response:
    return await system.payment.client.post(f"{RECORD}/{payment_id}/fail", json={"reason": reason})


async def settle(system: Any, payment: dict[str, Any]) -> dict[str, Any]:
    """The steps after RECORD_PAYMENT: apply to the loan, restore credit, complete."""
    applied = await apply(system, payment)
    assert applied.status_code == 200, applied.text
    await restore(system, payment)
    completed = await complete(system, payment["paymentId"])
    assert completed.status_code == 200, completed.text
    done = data(completed)
    assert done["status"] == "COMPLETED"
    return done


async def pay(system: Any, loan: dict[str, Any], amount: str, on: date, **extra: Any) -> dict:
    """The whole saga, in its order: calculate, record, apply, restore, complete."""
    request = {"paymentAmount": amount, "paymentDate": str(on), **extra}
    calculated = await calculate(system, loan["loanId"], **request)
    assert calculated.status_code == 200, calculated.text
    payment = await recorded(system, loan["loanId"], amount, on, **extra)
    # calculate-then-pay on the same date gives the same amounts
    assert data(calculated)["calculation"] == payment["calculation"]
    await settle(system, payment)
    return payment


# --- payment_db, read directly -----------------------------------------------------------------


async def fetch(system: Any, query: str, *args: Any) -> list[Any]:
    async with system.payment.app.state.db.connection() as conn:
        return await conn.fetch(query, *args)


async def val(system: Any, query: str, *args: Any) -> Any:
    async with system.payment.app.state.db.connection() as conn:
        return await conn.fetchval(query, *args)


async def counts(system: Any) -> dict[str, int]:
    """Rows of every payment_db table a payment request could write."""
    tables = ("payments", "payment_installments", "payment_history", "payment_calculations")
    return {t: await val(system, f"SELECT count(*) FROM {t}") for t in tables}


async def history(system: Any, payment_id: str) -> list[Any]:
    return await fetch(
        system,
        "SELECT transaction_type, amount, balance_before, balance_after, description"
        " FROM payment_history WHERE payment_id = $1 ORDER BY history_id",
        payment_id,
    )


def as_json(value: Any) -> Any:
    """A JSONB column as asyncpg returns it (text unless a codec is set), parsed."""
    return json.loads(value, parse_float=Decimal) if isinstance(value, str) else value
