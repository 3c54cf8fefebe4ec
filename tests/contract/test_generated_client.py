"""A client generated from docs/openapi.json by openapi-python-client runs the README's
walk-through against a real `elms up`: a customer, their KYC, a loan applied for and approved,
disbursed, and its first installment paid. What the document says is what a client gets."""

from __future__ import annotations

import importlib
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from types import ModuleType
from typing import Any

import pytest

from tests.contract.conftest import DOCUMENT, System
from tests.support.waiting import until

PACKAGE = "elms_contract_client"
# No formatter run on the generated code (ruff need not be on PATH for it).
CONFIG = f"package_name_override: {PACKAGE}\npost_hooks: []\n"


@pytest.fixture(scope="module")
def client_package(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    where = tmp_path_factory.mktemp("client")
    (where / "config.yaml").write_text(CONFIG)
    generated = subprocess.run(
        [
            sys.executable,
            "-m",
            "openapi_python_client",
            "generate",
            "--path",
            str(DOCUMENT),
            "--config",
            str(where / "config.yaml"),
            "--meta",
            "none",
            "--output-path",
            str(where / PACKAGE),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert generated.returncode == 0, generated.stdout + generated.stderr
    sys.path.insert(0, str(where))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(where))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


def _module(package: ModuleType, name: str) -> Any:
    return importlib.import_module(f"{package.__name__}.{name}")


def _ok(response: Any, status: int) -> Any:
    """The envelope's data of a success, having checked it parsed as the document says."""
    assert response.status_code == status, response.content
    envelope = response.parsed
    assert envelope is not None and envelope.status == "SUCCESS", response.content
    return envelope.data


async def test_the_readme_walk_through_with_a_generated_client(
    system: System, client_package: ModuleType
):
    models = _module(client_package, "models")
    client = client_package.AuthenticatedClient(base_url=system.url, token=system.admin_token)
    customers = _module(client_package, "api.customers")
    loans = _module(client_package, "api.loans")
    payments = _module(client_package, "api.payments")

    create_customer = _module(customers, "create_customer")
    customer = _ok(
        await create_customer.asyncio_detailed(
            client=client,
            idempotency_key="contract-customer-1",
            body=models.CustomerCreate(
                first_name="Ada",
                last_name="Lovelace",
                email="ada@example.com",
                date_of_birth=date(1985, 12, 10),
                credit_limit="25000.00",
                credit_score=760,
                annual_income="120000.00",
            ),
        ),
        201,
    )
    assert customer.available_credit == 25000
    update_customer = _module(customers, "update_customer")
    verified = _ok(
        await update_customer.asyncio_detailed(
            customer.customer_id,
            client=client,
            body=models.CustomerUpdate(
                version=customer.version, kyc_status=models.KycStatus.VERIFIED
            ),
        ),
        200,
    )
    assert verified.kyc_status == "VERIFIED"

    create_loan = _module(loans, "create_loan")
    loan = _ok(
        await create_loan.asyncio_detailed(
            client=client,
            idempotency_key="contract-loan-1",
            body=models.LoanRequest(
                customer_id=customer.customer_id,
                loan_amount="12000.00",
                interest_rate="0.12",
                installment_count=12,
                loan_type=models.LoanType.PERSONAL,
            ),
        ),
        201,
    )
    # KYC verified, a score of 760, an installment well within the income: approved at once.
    assert loan.status == "APPROVED" and len(loan.installments) == 12

    # The approval reaches the customer's credit through the loan service's outbox; a payment
    # gives principal back, so it waits until the loan has taken its credit.
    get_customer = _module(customers, "get_customer")

    async def credit_taken() -> bool:
        found = await get_customer.asyncio_detailed(customer.customer_id, client=client)
        return _ok(found, 200).used_credit == 12000

    await until(credit_taken, "the approval to reach the customer's credit")

    disburse = _module(loans, "disburse")
    active = _ok(
        await disburse.asyncio_detailed(loan.loan_id, client=client, body=models.DisburseRequest()),
        200,
    )
    assert active.status == "ACTIVE"

    calculate = _module(payments, "calculate")
    quote = _ok(
        await calculate.asyncio_detailed(
            client=client,
            body=models.CalculateRequest(loan_id=loan.loan_id, installment_numbers=[1]),
        ),
        200,
    )
    assert [row.installment_number for row in quote.installment_breakdown] == [1]
    due = f"{quote.calculation.final_amount:.2f}"

    create_payment = _module(payments, "create_payment")
    payment = _ok(
        await create_payment.asyncio_detailed(
            client=client,
            idempotency_key="contract-payment-1",
            body=models.PaymentRequest(
                loan_id=loan.loan_id,
                payment_amount=due,
                payment_method=models.PaymentMethod.BANK_TRANSFER,
                installment_numbers=[1],
            ),
        ),
        201,
    )
    assert payment.status == "COMPLETED"
    assert payment.installments_paid == 1
    assert f"{payment.payment_amount:.2f}" == due
    assert payment.saga_id.startswith("SAGA-")
