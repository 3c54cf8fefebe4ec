"""The security regression suite (docs/security.md): attacks sent through the gateway of a real
`elms up` (every service its own process, embedded PostgreSQL), each asserting the refusal and
that nothing changed, and the books balanced at the end."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.security.raw_http import Answer, send
from tests.support.elms_up import admin_url, books_balance, elms_up, environment, token

EVENT_WAIT_SECONDS = 30
# Every table whose rows a refused request must leave as they were. (Audit rows, sessions and
# breaker states change with any request; payment_calculations with every allowed quote.)
GUARDED_TABLES = (
    "customer_db.customers",
    "customer_db.customer_addresses",
    "customer_db.credit_reservations",
    "customer_db.credit_history",
    "customer_db.idempotency_keys",
    "customer_db.data_sync_events",
    "loan_db.loans",
    "loan_db.loan_applications",
    "loan_db.loan_installments",
    "loan_db.loan_documents",
    "loan_db.loan_payment_applications",
    "loan_db.loan_products",
    "loan_db.loan_product_versions",
    "loan_db.idempotency_keys",
    "loan_db.data_sync_events",
    "payment_db.payments",
    "payment_db.payment_installments",
    "payment_db.payment_history",
    "payment_db.idempotency_keys",
    "payment_db.data_sync_events",
    "banking_gateway.saga_states",
    "banking_gateway.idempotency_keys",
)


@dataclass
class Bank:
    """A running ELMS with two customers: OWN (the attacker's own, with a pending loan and an
    active one) and OTHER (a victim, with an active loan and a payment)."""

    env: dict[str, str]
    data_dir: Path
    port: int
    officer: str
    own: str = ""
    other: str = ""
    own_token: str = ""
    pending_loan: str = ""
    own_active_loan: str = ""
    other_loan: str = ""
    other_payment: str = ""
    ids: dict[str, str] = field(default_factory=dict)

    @property
    def admin_url(self) -> str:
        return admin_url(self.data_dir)

    def as_customer(self, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.own_token}", **extra}

    def as_officer(self, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.officer}", **extra}

    def send(self, method: str, target: bytes | str, headers=None, body=None) -> Answer:
        return send(self.port, method, target, headers, body)

    def api(self, method: str, path: str, body=None, expect: int = 200, key: str = "") -> dict:
        """A call as the officer; `key`, an Idempotency-Key."""
        headers = self.as_officer(**({"Idempotency-Key": key} if key else {}))
        answer = httpx.request(
            method, f"http://127.0.0.1:{self.port}{path}", json=body, headers=headers, timeout=60
        )
        assert answer.status_code == expect, answer.text
        return json.loads(answer.text, parse_float=Decimal)["data"]

    def snapshot(self) -> dict[str, tuple[int, str]]:
        """Every guarded table's row count and a digest of its rows."""
        return asyncio.run(_snapshot(self.admin_url))

    def query(self, sql: str, *args: object) -> list[asyncpg.Record]:
        return asyncio.run(_fetch(self.admin_url, sql, *args))


async def _fetch(url: str, sql: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


async def _snapshot(url: str) -> dict[str, tuple[int, str]]:
    conn = await asyncpg.connect(url)
    try:
        found = {}
        for table in GUARDED_TABLES:
            row = await conn.fetchrow(
                f"SELECT count(*), coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '')"
                f" FROM {table} t"
            )
            found[table] = (row[0], row[1])
        return found
    finally:
        await conn.close()


def _customer(bank: Bank, name: str) -> dict:
    return bank.api(
        "POST",
        "/api/v1/customers",
        {
            "firstName": name,
            "lastName": "Tester",
            "email": f"{name.lower()}@example.com",
            "dateOfBirth": "1980-01-01",
            "creditLimit": "50000.00",
            "creditScore": 760,
            "annualIncome": "120000.00",
            "identificationNumber": f"ID-{name}-123456789",
            "identificationType": "PASSPORT",
        },
        expect=201,
    )


def _loan(bank: Bank, customer_id: str, key: str) -> str:
    """A loan waiting for an officer (the customer's KYC is still PENDING)."""
    loan = bank.api(
        "POST",
        "/api/v1/loans",
        {
            "customerId": customer_id,
            "loanAmount": "1000.00",
            "interestRate": "0.12",
            "installmentCount": 12,
            "loanType": "PERSONAL",
        },
        expect=201,
        key=key,
    )
    assert loan["status"] == "PENDING_APPROVAL", loan
    return loan["loanId"]


def _activate(bank: Bank, loan_id: str, customer_id: str, used: str) -> None:
    bank.api("POST", f"/api/v1/loans/{loan_id}/approve", {"notes": "ok"})
    bank.api("POST", f"/api/v1/loans/{loan_id}/disburse", {})
    # Approval reaches the customer service through the loan service's outbox; a payment gives
    # credit back, so it must come after the loan has taken it.
    deadline = time.monotonic() + EVENT_WAIT_SECONDS
    while bank.api("GET", f"/api/v1/customers/{customer_id}")["usedCredit"] != Decimal(used):
        assert time.monotonic() < deadline, f"the approval of {loan_id} never reached {customer_id}"
        time.sleep(0.1)


def pay(bank: Bank, loan_id: str, headers: dict[str, str], key: str, bank_details=None) -> dict:
    quote = bank.api("POST", "/api/v1/payments/calculate", {"loanId": loan_id})
    body = {
        "loanId": loan_id,
        "paymentAmount": str(quote["calculation"]["finalAmount"]),
        "paymentMethod": "BANK_TRANSFER",
    }
    if bank_details is not None:
        body["bankDetails"] = bank_details
    answer = httpx.post(
        f"http://127.0.0.1:{bank.port}/api/v1/payments",
        json=body,
        headers={**headers, "Idempotency-Key": key},
        timeout=60,
    )
    assert answer.status_code == 201, answer.text
    return answer.json()["data"]


@pytest.fixture(scope="package")
def bank(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bank]:
    data_dir = tmp_path_factory.mktemp("security") / "data"
    env = environment(data_dir)
    with elms_up(env):
        officer = token(env, "--sub", "officer-1", "--role", "LOAN_OFFICER")
        running = Bank(env, data_dir, int(env["ELMS_GATEWAY_PORT"]), officer)
        own, other = _customer(running, "Own"), _customer(running, "Other")
        running.own, running.other = own["customerId"], other["customerId"]
        running.own_token = token(
            env, "--sub", "own-user", "--role", "CUSTOMER", "--customer-id", running.own
        )
        running.pending_loan = _loan(running, running.own, "own-pending")
        running.own_active_loan = _loan(running, running.own, "own-active")
        running.other_loan = _loan(running, running.other, "other-active")
        _activate(running, running.own_active_loan, running.own, "1000.00")
        _activate(running, running.other_loan, running.other, "1000.00")
        running.other_payment = pay(running, running.other_loan, running.as_officer(), "p-1")[
            "paymentId"
        ]
        yield running
        books_balance(env)


@pytest.fixture
def unchanged(bank: Bank) -> Iterator[None]:
    """The test's requests must leave every guarded row as it was."""
    before = bank.snapshot()
    yield
    after = bank.snapshot()
    changed = [table for table in GUARDED_TABLES if before[table] != after[table]]
    assert not changed, f"rows changed in {changed}"
