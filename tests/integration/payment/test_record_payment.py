"""RECORD_PAYMENT, the first step of the PAYMENT_PROCESSING saga (`POST /internal/v1/payments`):
a PENDING payment with its installment rows, and what the loan service is to apply."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal

import pytest

from elms.core import jsoncodec
from tests.integration.loan.conftest import loan_request, new_customer
from tests.integration.payment.helpers import (
    RECORD,
    TODAY,
    ZERO,
    active_loan,
    apply,
    as_json,
    borrower_with_loan,
    calculate,
    complete,
    counts,
    customer,
    data,
    error,
    fail,
    fetch,
    fields,
    get_loan,
    history,
    installments,
    record,
    recorded,
    restore,
)


async def test_a_recorded_payment_is_pending_and_every_row_adds_up(system):
    loan = await borrower_with_loan(system, "record")
    before = await get_loan(system, loan["loanId"])
    quoted = data(await calculate(system, loan["loanId"], installmentNumbers=[1, 2]))
    cost = quoted["calculation"]["finalAmount"]
    offer = cost + Decimal("123.45")

    response = await record(system, loan["loanId"], str(offer), notes="First two")

    assert response.status_code == 201, response.text
    payment = data(response)
    assert payment["paymentId"].startswith("PAY-")
    assert payment["status"] == "PENDING"
    assert (payment["loanId"], payment["customerId"]) == (loan["loanId"], loan["customerId"])
    assert payment["paymentDate"].startswith(str(TODAY))
    assert payment["paymentMethod"] == "BANK_TRANSFER"
    assert payment["notes"] == "First two"
    rows = payment["installmentPayments"]
    assert [r["installmentNumber"] for r in rows] == [1, 2]
    for row in rows:
        assert row["paidAmount"] == (
            row["principalPaid"] + row["interestPaid"] + row["penaltyPaid"] - row["discountApplied"]
        )
        assert row["paidAmount"] == row["dueAmount"]
        assert row["remainingAmount"] == ZERO
        assert row["penaltyPaid"] > ZERO  # both are past due
    assert payment["paymentAmount"] == sum(r["paidAmount"] for r in rows) == cost
    assert payment["unappliedAmount"] == offer - payment["paymentAmount"] == Decimal("123.45")
    assert payment["installmentsPaid"] == 2
    assert (payment["processingFee"], payment["totalAmount"]) == (ZERO, cost)
    assert payment["loanPaidOff"] is False
    assert payment["calculation"] == quoted["calculation"]
    principal = sum(r["principalPaid"] for r in rows)
    assert payment["principalPaid"] == principal
    assert payment["balanceAfterPayment"]["outstandingPrincipal"] == (
        before["outstandingAmount"] - principal
    )
    assert payment["applyRequest"]["expectedVersion"] == before["version"]
    assert payment["applyRequest"]["paymentId"] == payment["paymentId"]
    assert payment["applyRequest"]["installments"] == [
        {
            "installmentNumber": r["installmentNumber"],
            "principalPaid": r["principalPaid"],
            "interestPaid": r["interestPaid"],
            "penaltyPaid": r["penaltyPaid"],
            "discountApplied": r["discountApplied"],
            "interestWaived": r["interestWaived"],
        }
        for r in rows
    ]

    stored = await fetch(
        system,
        "SELECT installment_number, paid_amount, principal_paid, interest_paid, penalty_paid,"
        " discount_applied FROM payment_installments WHERE payment_id = $1"
        " ORDER BY installment_number",
        payment["paymentId"],
    )
    assert [
        (r["installment_number"], r["paid_amount"], r["principal_paid"], r["interest_paid"])
        for r in stored
    ] == [
        (r["installmentNumber"], r["paidAmount"], r["principalPaid"], r["interestPaid"])
        for r in rows
    ]
    [recorded_row] = await history(system, payment["paymentId"])
    assert recorded_row["transaction_type"] == "PAYMENT_RECORDED"
    assert recorded_row["amount"] == cost
    assert recorded_row["balance_before"] == recorded_row["balance_after"]
    assert recorded_row["balance_after"] == before["outstandingAmount"]
    kinds = await fetch(
        system,
        "SELECT calculation_type, payment_id FROM payment_calculations WHERE payment_id = $1",
        payment["paymentId"],
    )
    assert [k["calculation_type"] for k in kinds] == ["PAYMENT", "PAYMENT"]
    # Recording does not touch the loan: the saga's next step applies the money.
    after = await get_loan(system, loan["loanId"])
    assert after["version"] == before["version"]
    assert after["installments"] == before["installments"]


async def test_a_partial_payment_leaves_the_next_installment_partially_paid(system):
    loan = await borrower_with_loan(system, "partrec")
    first, second = (await installments(system, loan["loanId"]))[:2]
    offer = first["totalAmount"] + Decimal("250.00")

    payment = await recorded(
        system, loan["loanId"], str(offer), on=first["dueDate"], isPartialPayment=True
    )
    applied = await apply(system, payment)

    whole, partial = payment["installmentPayments"]
    assert whole["remainingAmount"] == ZERO
    assert partial["paidAmount"] == Decimal("250.00")
    assert partial["discountApplied"] == ZERO
    assert partial["remainingAmount"] == second["totalAmount"] - Decimal("250.00")
    assert partial["dueAmount"] > partial["paidAmount"]
    assert payment["installmentsPaid"] == 1
    assert payment["unappliedAmount"] == ZERO
    assert applied.status_code == 200, applied.text
    rows = await installments(system, loan["loanId"])
    assert rows[0]["status"] == "PAID"
    assert rows[1]["status"] == "PARTIALLY_PAID"
    assert rows[1]["remainingAmount"] == partial["remainingAmount"]
    assert rows[1]["paidAmount"] == Decimal("250.00")
    await restore(system, payment)
    assert (await complete(system, payment["paymentId"])).status_code == 200


async def _masked_everywhere(system, payment, expected, secrets) -> None:
    """The details as answered, as stored and as read again are `expected`; no secret is stored."""
    assert payment["bankDetails"] == expected
    [row] = await fetch(
        system,
        "SELECT bank_details, bank_details::text AS raw FROM payments WHERE payment_id = $1",
        payment["paymentId"],
    )
    assert as_json(row["bank_details"]) == expected
    for secret in secrets:
        assert secret not in row["raw"]
    shown = await system.payment.client.get(f"/api/v1/payments/{payment['paymentId']}")
    assert data(shown)["bankDetails"] == expected


async def test_account_numbers_are_masked_in_the_answer_and_in_the_database(system):
    loan = await borrower_with_loan(system, "masked")
    details = {
        "bankName": "First Bank",
        "accountNumber": "123456789012",
        "routingNumber": "021000021",
        "holder": {"name": "Ada", "iban": "DE89370400440532013000"},
    }

    payment = await recorded(system, loan["loanId"], "5000.00", bankDetails=details)

    expected = {
        "bankName": "First Bank",
        "accountNumber": "********9012",
        "routingNumber": "*****0021",
        "holder": {"name": "Ada", "iban": "******************3000"},
    }
    await _masked_everywhere(
        system, payment, expected, ("123456789012", "021000021", "DE89370400440532013000")
    )


async def test_account_numbers_inside_lists_and_under_account_keys_are_masked_too(system):
    loan = await borrower_with_loan(system, "maskedlist")
    details = {
        "accounts": ["998877665544"],
        "linked": [{"accountNumber": "123456789012", "bank": "B"}],
        "account": {"number": "555566667777"},
    }

    payment = await recorded(system, loan["loanId"], "5000.00", bankDetails=details)

    expected = {
        "accounts": ["********5544"],
        "linked": [{"accountNumber": "********9012", "bank": "B"}],
        # Under a key naming an account everything is masked, however deep.
        "account": {"number": "********7777"},
    }
    assert payment["bankDetails"] == expected
    raw = await fetch(
        system,
        "SELECT bank_details::text AS raw FROM payments WHERE payment_id = $1",
        payment["paymentId"],
    )
    for secret in ("998877665544", "123456789012", "555566667777"):
        assert secret not in raw[0]["raw"]


async def test_any_value_holding_a_number_is_masked_whatever_its_key(system):
    """pan, bban, acctNo, sortCode, and an account number sent as a JSON number with a
    fraction (read as a Decimal): masked by the digits they hold, not by their names."""
    loan = await borrower_with_loan(system, "maskedkeys")
    request = {
        "loanId": loan["loanId"],
        "paymentAmount": "5000.00",
        "paymentMethod": "BANK_TRANSFER",
        "bankDetails": {
            "bankName": "First Bank",
            "pan": "4111 1111 1111 1111",
            "bban": "NWBK60161331926819",
            "acctNo": "87654321",
            "sortCode": "60-16-13",
            "accountNo": Decimal("12345678.9012"),
            "branch": "0042",
        },
    }

    response = await system.payment.client.post(
        RECORD, content=jsoncodec.dumps(request), headers={"content-type": "application/json"}
    )

    assert response.status_code == 201, response.text
    payment = data(response)
    expected = {
        "bankName": "First Bank",
        "pan": "***************1111",
        "bban": "**************6819",
        "acctNo": "****4321",
        "sortCode": "****1613",
        "accountNo": "*********9012",
        "branch": "0042",
    }
    await _masked_everywhere(
        system,
        payment,
        expected,
        ("4111 1111", "60161331926819", "87654321", "60-16-13", "12345678"),
    )


async def test_a_repeated_idempotency_key_replays_the_first_payment(system):
    loan = await borrower_with_loan(system, "idem")
    key = {"Idempotency-Key": "pay-once-1"}

    first = await record(system, loan["loanId"], "2000.00", headers=key)
    again = await record(system, loan["loanId"], "2000.00", headers=key)

    assert first.status_code == again.status_code == 201, again.text
    assert "Idempotent-Replayed" not in first.headers
    assert again.headers["Idempotent-Replayed"] == "true"
    assert data(again) == data(first)
    assert (await counts(system))["payments"] == 1


async def test_an_idempotency_key_reused_with_another_body_is_refused(system):
    loan = await borrower_with_loan(system, "idemreuse")
    key = {"Idempotency-Key": "pay-once-2"}

    first = await record(system, loan["loanId"], "2000.00", headers=key)
    other = await record(system, loan["loanId"], "3000.00", headers=key)

    assert first.status_code == 201, first.text
    assert other.status_code == 422, other.text
    assert error(other)["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert (await counts(system))["payments"] == 1


async def test_an_idempotency_key_of_a_refused_payment_may_be_used_again(system):
    loan = await borrower_with_loan(system, "idemretry")
    key = {"Idempotency-Key": "pay-once-3"}

    refused = await record(system, loan["loanId"], "10.00", headers=key)
    retried = await record(system, loan["loanId"], "5000.00", headers=key)

    assert refused.status_code == 422, refused.text
    assert retried.status_code == 201, retried.text
    assert "Idempotent-Replayed" not in retried.headers
    assert (await counts(system))["payments"] == 1


async def test_a_payment_reference_is_unique_per_loan_until_its_payment_fails(system):
    loan = await borrower_with_loan(system, "reference")
    first = await recorded(system, loan["loanId"], "2000.00", paymentReference="INV-1")

    duplicate = await record(system, loan["loanId"], "2000.00", paymentReference="INV-1")

    assert duplicate.status_code == 409, duplicate.text
    assert error(duplicate)["code"] == "DUPLICATE_PAYMENT_REFERENCE"
    assert fields(duplicate) == {"paymentReference"}
    assert (await counts(system))["payments"] == 1

    failed = await fail(system, first["paymentId"], "Card declined")
    assert failed.status_code == 200, failed.text

    retried = await record(system, loan["loanId"], "2000.00", paymentReference="INV-1")

    assert retried.status_code == 201, retried.text
    assert data(retried)["paymentReference"] == "INV-1"
    assert data(retried)["paymentId"] != first["paymentId"]
    statuses = await fetch(
        system,
        "SELECT status FROM payments WHERE payment_reference = 'INV-1' ORDER BY created_at",
    )
    assert [s["status"] for s in statuses] == ["FAILED", "PENDING"]


async def test_concurrent_payments_with_one_reference_record_one_and_refuse_the_rest(system):
    loan = await borrower_with_loan(system, "refrace")

    answers = await asyncio.gather(
        *(record(system, loan["loanId"], "2000.00", paymentReference="INV-RACE") for _ in range(4))
    )

    assert sorted(a.status_code for a in answers) == [201, 409, 409, 409]
    refused = [a for a in answers if a.status_code == 409]
    # However the race falls (the check, or the unique index), the refusal is the same.
    assert {error(a)["code"] for a in refused} == {"DUPLICATE_PAYMENT_REFERENCE"}
    assert all(fields(a) == {"paymentReference"} for a in refused)
    assert (await counts(system))["payments"] == 1


async def test_a_payment_id_given_twice_is_a_conflict(system):
    loan = await borrower_with_loan(system, "givenid")

    first = await record(system, loan["loanId"], "2000.00", paymentId="PAY-SAGA-1")
    second = await record(system, loan["loanId"], "2000.00", paymentId="PAY-SAGA-1")

    assert first.status_code == 201, first.text
    assert data(first)["paymentId"] == "PAY-SAGA-1"
    assert second.status_code == 409, second.text
    assert error(second)["code"] == "CONFLICT"
    assert fields(second) == {"paymentId"}
    assert (await counts(system))["payments"] == 1


async def test_the_same_payment_reference_may_be_used_on_another_loan(system):
    person = await customer(system, "tworefs")
    one = await active_loan(system, person["customerId"], "APP-REF-1")
    two = await active_loan(system, person["customerId"], "APP-REF-2")

    first = await record(system, one["loanId"], "2000.00", paymentReference="INV-9")
    second = await record(system, two["loanId"], "2000.00", paymentReference="INV-9")

    assert first.status_code == 201, first.text
    assert second.status_code == 201, second.text
    assert data(second)["loanId"] == two["loanId"]


async def test_an_unknown_payment_method_is_refused_and_nothing_is_written(system):
    loan = await borrower_with_loan(system, "method")

    response = await record(system, loan["loanId"], "2000.00", method="BITCOIN")

    assert response.status_code == 400, response.text
    assert error(response)["code"] == "VALIDATION_ERROR"
    assert fields(response) == {"paymentMethod"}
    assert set((await counts(system)).values()) == {0}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"paymentDate": str(TODAY + timedelta(days=1))}, "paymentDate"),
        ({"paymentAmount": "0"}, "paymentAmount"),
        ({"paymentAmount": "10.001"}, "paymentAmount"),
        ({"paymentMethod": None}, "paymentMethod"),
        ({"paymentReference": ""}, "paymentReference"),
    ],
)
async def test_a_bad_field_of_a_payment_is_refused_with_its_name(system, change, field):
    loan = await borrower_with_loan(system, "badfield")
    request = {
        "loanId": loan["loanId"],
        "paymentAmount": "2000.00",
        "paymentMethod": "ACH",
        **change,
    }

    response = await system.payment.client.post(RECORD, json=request)

    assert response.status_code == 400, response.text
    assert fields(response) == {field}
    assert (await counts(system))["payments"] == 0


async def test_a_payment_for_a_loan_awaiting_approval_is_refused(system):
    person = await new_customer(system.customer.client, tag="waiting", kyc=False)
    created = await system.loan.client.post(
        "/api/v1/loans", json=loan_request(person["customerId"])
    )
    assert data(created)["status"] == "PENDING_APPROVAL"

    response = await record(system, data(created)["loanId"], "2000.00")

    assert response.status_code == 422, response.text
    assert error(response)["code"] == "INVALID_LOAN_STATE"
    assert (await counts(system))["payments"] == 0


async def test_a_payment_for_an_unknown_loan_is_not_found(system):
    response = await record(system, "LOAN-DOES-NOT-EXIST", "2000.00")

    assert response.status_code == 404, response.text
    assert error(response)["code"] == "NOT_FOUND"


async def test_a_payment_too_low_for_any_installment_is_refused_with_the_amount_needed(system):
    loan = await borrower_with_loan(system, "lowrec")
    quoted = data(await calculate(system, loan["loanId"], installmentNumbers=[1]))

    response = await record(system, loan["loanId"], "10.00")

    assert response.status_code == 422, response.text
    assert error(response)["code"] == "PAYMENT_AMOUNT_TOO_LOW"
    assert error(response)["amountNeeded"] == quoted["calculation"]["finalAmount"]
    assert (await counts(system))["payments"] == 0
