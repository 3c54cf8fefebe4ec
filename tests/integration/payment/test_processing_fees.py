"""Rule 5 of api.md §4: a fixed processing fee per payment method, set by the loan's product,
on top of the money applied: `totalAmount = paymentAmount + processingFee`, which the database
checks too."""

from __future__ import annotations

from decimal import Decimal

import asyncpg
import pytest

from elms.core.principal import ROLE_HEADER, USER_HEADER
from tests.integration.payment.helpers import (
    RECORD,
    ZERO,
    borrower_with_loan,
    data,
    fetch,
)

FEE = Decimal("2.50")


@pytest.fixture
async def charging(system) -> str:
    """A personal-loan product charging 2.50 for credit cards."""
    created = await system.loan.client.post(
        "/api/v1/loan-products",
        json={
            "productCode": "CARD-FEE",
            "name": "Personal loan, card fee",
            "loanType": "PERSONAL",
            "processingFees": {"CREDIT_CARD": str(FEE)},
        },
        headers={USER_HEADER: "ada", ROLE_HEADER: "ADMIN"},
    )
    assert created.status_code == 201, created.text
    return "CARD-FEE"


async def _record(system, loan_id: str, method: str) -> dict:
    response = await system.payment.client.post(
        RECORD,
        json={
            "loanId": loan_id,
            "paymentAmount": "5000.00",
            "paymentMethod": method,
            "installmentNumbers": [1],
        },
    )
    assert response.status_code == 201, response.text
    return data(response)


async def test_a_credit_card_payment_carries_its_fee_on_top_of_the_amount_applied(system, charging):
    loan = await borrower_with_loan(system, "fees", productCode=charging)

    payment = await _record(system, loan["loanId"], "CREDIT_CARD")

    applied = payment["installmentPayments"][0]["paidAmount"]
    assert payment["paymentAmount"] == applied
    assert payment["processingFee"] == FEE
    assert payment["totalAmount"] == payment["paymentAmount"] + FEE
    # The fee is not taken out of the offer: only the installment is.
    assert payment["unappliedAmount"] == Decimal("5000.00") - applied
    [row] = await fetch(
        system,
        "SELECT payment_amount, processing_fee, total_amount FROM payments WHERE payment_id = $1",
        payment["paymentId"],
    )
    assert (row["payment_amount"], row["processing_fee"]) == (applied, FEE)
    assert row["total_amount"] == row["payment_amount"] + row["processing_fee"]
    shown = data(await system.payment.client.get(f"/api/v1/payments/{payment['paymentId']}"))
    assert (shown["processingFee"], shown["totalAmount"]) == (FEE, applied + FEE)


@pytest.mark.parametrize("method", ["BANK_TRANSFER", "DEBIT_CARD", "CASH"])
async def test_a_method_without_a_configured_fee_pays_none(system, charging, method):
    loan = await borrower_with_loan(system, "nofee", productCode=charging)

    payment = await _record(system, loan["loanId"], method)

    assert payment["processingFee"] == ZERO
    assert payment["totalAmount"] == payment["paymentAmount"]


async def test_under_the_default_product_a_credit_card_pays_no_fee(system):
    loan = await borrower_with_loan(system, "default")

    payment = await _record(system, loan["loanId"], "CREDIT_CARD")

    assert (payment["processingFee"], payment["totalAmount"]) == (ZERO, payment["paymentAmount"])


async def test_the_database_refuses_a_total_that_is_not_amount_plus_fee(system, charging):
    loan = await borrower_with_loan(system, "check", productCode=charging)
    payment = await _record(system, loan["loanId"], "CREDIT_CARD")

    with pytest.raises(asyncpg.CheckViolationError, match="chk_total_amount_calculation"):
        async with system.payment.app.state.db.transaction() as conn:
            await conn.execute(
                "UPDATE payments SET processing_fee = processing_fee + 1 WHERE payment_id = $1",
                payment["paymentId"],
            )

    [row] = await fetch(
        system,
        "SELECT processing_fee, total_amount FROM payments WHERE payment_id = $1",
        payment["paymentId"],
    )
    assert row["processing_fee"] == FEE
