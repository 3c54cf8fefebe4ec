from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import httpx
import pytest

from elms.core import outbox
from elms.core.clock import utcnow


def body(response: httpx.Response) -> Any:
    return json.loads(response.text, parse_float=Decimal)


async def new_customer(client: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    verify = overrides.pop("kyc", True)
    payload = {
        "firstName": "Loan",
        "lastName": "Applicant",
        "email": f"{overrides.pop('tag', 'applicant')}@example.com",
        "creditLimit": "50000.00",
        "creditScore": 760,
        "annualIncome": "120000.00",
        **overrides,
    }
    created = await client.post("/api/v1/customers", json=payload)
    assert created.status_code == 201, created.text
    customer = body(created)["data"]
    if verify:
        verified = await client.put(
            f"/api/v1/customers/{customer['customerId']}",
            json={"version": customer["version"], "kycStatus": "VERIFIED"},
        )
        assert verified.status_code == 200, verified.text
        customer = body(verified)["data"]
    return customer


def loan_request(customer_id: str, **overrides: Any) -> dict[str, Any]:
    return {
        "customerId": customer_id,
        "loanAmount": "12000.00",
        "interestRate": "0.12",
        "installmentCount": 12,
        "loanType": "PERSONAL",
        "purpose": "Home improvement",
        **overrides,
    }


async def relay(system: Any) -> int:
    """One round of the loan service's outbox relay, delivering over real HTTP."""
    app = system.loan.app
    return await outbox.relay(app.state.db, outbox.http_delivery(app.state.services), utcnow())


@pytest.fixture
def loan_client(system):
    return system.loan.client


@pytest.fixture
def customer_client(system):
    return system.customer.client
