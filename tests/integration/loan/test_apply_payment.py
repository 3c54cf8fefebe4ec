"""POST /internal/v1/loans/{loanId}/payments: the payment service applies its allocation to the
installments (api.md §4 rule 4: within an installment, interest, then principal, then penalty),
once per payment id, against the loan version it calculated with."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal

import pytest

from elms.core.business_day import calendar_date
from tests.integration.loan.conftest import relay
from tests.integration.loan.helpers import (
    PLAYS_THE_PAYMENT_SERVICE,
    active_loan,
    approved_loan,
    data,
    error,
    events,
    get_loan,
    loan_fetch,
    loan_val,
    pay,
    schedule,
    whole,
)

pytestmark = PLAYS_THE_PAYMENT_SERVICE


async def _active(system, tag: str = "payer", **overrides):
    loan = await active_loan(system, tag, installmentCount=6, loanAmount="6000.00", **overrides)
    rows = (await schedule(system, loan["loanId"]))["installments"]
    return loan, rows


async def _state(system, loan_id: str):
    """Everything a payment could change, read from loan_db."""
    loan = await loan_fetch(
        system, "SELECT version, outstanding_amount, status FROM loans WHERE loan_id = $1", loan_id
    )
    rows = await loan_fetch(
        system,
        "SELECT installment_number, status, paid_amount, remaining_amount, paid_date,"
        " penalty_applied, discount_applied FROM loan_installments WHERE loan_id = $1"
        " ORDER BY installment_number",
        loan_id,
    )
    applied = await loan_val(
        system, "SELECT count(*) FROM loan_payment_applications WHERE loan_id = $1", loan_id
    )
    return [dict(r) for r in loan], [dict(r) for r in rows], applied


def _part(number: int, principal: str, interest: str, **more: str) -> dict:
    return {
        "installmentNumber": number,
        "principalPaid": principal,
        "interestPaid": interest,
        **more,
    }


async def test_a_partial_payment_leaves_the_installment_partially_paid(system):
    loan, rows = await _active(system)
    first = rows[0]
    response = await pay(
        system,
        loan["loanId"],
        "PAY-P1",
        loan["version"],
        [_part(1, "100.00", str(first["interestAmount"]))],
    )
    assert response.status_code == 200, response.text
    assert "idempotent-replayed" not in response.headers
    result = data(response)
    paid = first["interestAmount"] + Decimal("100.00")
    assert result["paymentId"] == "PAY-P1"
    assert result["principalPaid"] == Decimal("100.00")
    assert result["outstandingAmount"] == Decimal("5900.00")
    assert (result["loanStatus"], result["loanPaidOff"]) == ("ACTIVE", False)
    assert result["loanVersion"] == loan["version"] + 1
    assert result["installments"] == [
        {
            "installmentNumber": 1,
            "status": "PARTIALLY_PAID",
            "paidAmount": paid,
            "remainingAmount": first["totalAmount"] - paid,
        }
    ]
    [row] = await loan_fetch(
        system,
        "SELECT status, remaining_amount, paid_date FROM loan_installments"
        " WHERE loan_id = $1 AND installment_number = 1",
        loan["loanId"],
    )
    assert (row["status"], row["remaining_amount"]) == (
        "PARTIALLY_PAID",
        first["totalAmount"] - paid,
    )
    assert row["paid_date"].isoformat() == "2026-04-01T09:00:00"


async def test_the_rest_of_a_partly_paid_installment_pays_it(system):
    loan, rows = await _active(system)
    first = rows[0]
    interest = first["interestAmount"]
    partly = await pay(
        system, loan["loanId"], "PAY-A", loan["version"], [_part(1, "0.00", str(interest - 1))]
    )
    assert data(partly)["installments"][0]["status"] == "PARTIALLY_PAID"
    rest = _part(1, str(first["principalAmount"]), "1.00")
    done = await pay(system, loan["loanId"], "PAY-B", data(partly)["loanVersion"], [rest])
    assert done.status_code == 200, done.text
    [change] = data(done)["installments"]
    assert change["status"] == "PAID"
    assert change["remainingAmount"] == Decimal("0.00")
    assert change["paidAmount"] == first["totalAmount"]
    assert data(done)["outstandingAmount"] == Decimal("6000.00") - first["principalAmount"]


async def test_a_whole_installment_is_paid(system):
    loan, rows = await _active(system)
    response = await pay(system, loan["loanId"], "PAY-W", loan["version"], [whole(rows[0])])
    assert response.status_code == 200, response.text
    [change] = data(response)["installments"]
    assert (change["status"], change["remainingAmount"]) == ("PAID", Decimal("0.00"))
    assert change["paidAmount"] == rows[0]["totalAmount"]


async def test_a_discount_is_kept_beside_the_installment(system):
    loan, rows = await _active(system)
    # Paid early (the schedule is due after 2026-04-01): a discount within the interest paid.
    part = {**whole(rows[0]), "discountApplied": "0.40"}
    response = await pay(system, loan["loanId"], "PAY-D", loan["version"], [part])
    assert response.status_code == 200, response.text
    [change] = data(response)["installments"]
    # paid = principal + interest + penalty − discount (api.md §4 rule 4)
    assert change["paidAmount"] == rows[0]["totalAmount"] - Decimal("0.40")
    assert change["status"] == "PAID"
    _, stored, _ = await _state(system, loan["loanId"])
    assert (stored[0]["penalty_applied"], stored[0]["discount_applied"]) == (
        Decimal("0.00"),
        Decimal("0.40"),
    )


async def test_a_penalty_is_paid_as_owed_and_never_more(system):
    loan, rows = await _active(system, disbursement_date="2025-01-20", applicationDate="2025-01-10")
    assert rows[0]["dueDate"] == "2025-02-01"
    # 30 days late at 0.1% a day on the whole installment.
    owed = (rows[0]["totalAmount"] * Decimal("0.030")).quantize(Decimal("0.01"))
    paid_at = "2025-03-03T09:00:00Z"
    too_much = {**whole(rows[0]), "penaltyPaid": str(owed + Decimal("0.01"))}
    refused = await pay(system, loan["loanId"], "PAY-P0", loan["version"], [too_much], paid_at)
    assert (refused.status_code, error(refused)["code"]) == (422, "INSTALLMENT_NOT_PAYABLE")
    part = {**whole(rows[0]), "penaltyPaid": str(owed)}
    response = await pay(system, loan["loanId"], "PAY-P1", loan["version"], [part], paid_at)
    assert response.status_code == 200, response.text
    [change] = data(response)["installments"]
    assert change["paidAmount"] == rows[0]["totalAmount"] + owed
    assert change["status"] == "PAID"
    _, stored, _ = await _state(system, loan["loanId"])
    assert (stored[0]["penalty_applied"], stored[0]["discount_applied"]) == (owed, Decimal("0.00"))


async def test_a_payment_dated_after_the_business_date_is_refused(system):
    loan, rows = await _active(system)
    before = await _state(system, loan["loanId"])
    tomorrow = f"{calendar_date() + timedelta(days=1)}T09:00:00Z"
    refused = await pay(
        system, loan["loanId"], "PAY-FUT", loan["version"], [whole(rows[0])], tomorrow
    )
    assert (refused.status_code, error(refused)["code"]) == (422, "INVALID_PAYMENT_DATE")
    assert await _state(system, loan["loanId"]) == before


async def test_principal_and_interest_paid_without_the_penalty_leave_it_owed(system):
    """The gap servicing closes: paying exactly the remaining principal and interest of a late
    installment does not settle it; its penalty stays owed, and the installment open."""
    loan, rows = await _active(system, disbursement_date="2025-01-20", applicationDate="2025-01-10")
    owed = (rows[0]["totalAmount"] * Decimal("0.030")).quantize(Decimal("0.01"))
    response = await pay(
        system, loan["loanId"], "PAY-NP", loan["version"], [whole(rows[0])], "2025-03-03T09:00:00Z"
    )
    assert response.status_code == 200, response.text
    [change] = data(response)["installments"]
    assert (change["status"], change["remainingAmount"]) == ("PARTIALLY_PAID", Decimal("0.00"))
    [first, *_] = (await schedule(system, loan["loanId"]))["installments"]
    assert (first["penaltyOutstanding"], first["penaltyFrozenOn"]) == (owed, "2025-03-03")


async def test_the_outstanding_amount_falls_by_the_principal_paid(system):
    loan, rows = await _active(system)
    version = loan["version"]
    principal_paid = Decimal("0.00")
    payments = [
        [whole(rows[0]), whole(rows[1])],
        [_part(3, "250.00", str(rows[2]["interestAmount"]))],
        [_part(3, str(rows[2]["principalAmount"] - Decimal("250.00")), "0.00")],
    ]
    for n, parts in enumerate(payments):
        response = await pay(system, loan["loanId"], f"PAY-O{n}", version, parts)
        assert response.status_code == 200, response.text
        version = data(response)["loanVersion"]
        principal_paid += sum(Decimal(p["principalPaid"]) for p in parts)
        assert data(response)["outstandingAmount"] == Decimal("6000.00") - principal_paid
    expected = Decimal("6000.00") - sum(r["principalAmount"] for r in rows[:3])
    assert (await get_loan(system, loan["loanId"]))["outstandingAmount"] == expected
    assert (
        await loan_val(
            system, "SELECT outstanding_amount FROM loans WHERE loan_id = $1", loan["loanId"]
        )
        == expected
    )


async def test_paying_the_last_installment_pays_the_loan_off(system):
    loan, rows = await _active(system)
    response = await pay(
        system, loan["loanId"], "PAY-ALL", loan["version"], [whole(r) for r in rows]
    )
    assert response.status_code == 200, response.text
    result = data(response)
    assert (result["loanStatus"], result["loanPaidOff"]) == ("PAID_OFF", True)
    assert result["outstandingAmount"] == Decimal("0.00")
    assert [c["status"] for c in result["installments"]] == ["PAID"] * 6
    shown = await get_loan(system, loan["loanId"])
    assert shown["status"] == "PAID_OFF"
    assert shown["paymentHistory"]["totalPaid"] == shown["totalRepaymentAmount"]
    kinds = [e["event_type"] for e in await events(system, loan["loanId"])]
    assert kinds == ["LOAN_APPROVED", "LOAN_PAID_OFF"]
    # The customer service takes both, one after the other (one loan's events in order).
    assert await relay(system) == 1
    assert await relay(system) == 1
    assert {e["status"] for e in await events(system, loan["loanId"])} == {"PROCESSED"}


async def test_the_last_of_several_payments_pays_the_loan_off(system):
    loan, rows = await _active(system)
    version = loan["version"]
    for row in rows:
        response = await pay(
            system, loan["loanId"], f"PAY-{row['installmentNumber']}", version, [whole(row)]
        )
        assert response.status_code == 200, response.text
        version = data(response)["loanVersion"]
        assert data(response)["loanPaidOff"] is (row is rows[-1])
    assert (await get_loan(system, loan["loanId"]))["status"] == "PAID_OFF"


# --- refusals ----------------------------------------------------------------------------------


async def test_a_stale_expected_version_is_a_conflict_and_writes_nothing(system):
    loan, rows = await _active(system)
    first = await pay(system, loan["loanId"], "PAY-V1", loan["version"], [whole(rows[0])])
    assert first.status_code == 200
    before = await _state(system, loan["loanId"])
    stale = await pay(system, loan["loanId"], "PAY-V2", loan["version"], [whole(rows[1])])
    assert stale.status_code == 409
    assert error(stale)["code"] == "VERSION_CONFLICT"
    assert [d["field"] for d in error(stale)["details"]] == ["expectedVersion"]
    assert await _state(system, loan["loanId"]) == before
    # With the current version the same payment goes through.
    retried = await pay(
        system, loan["loanId"], "PAY-V2", data(first)["loanVersion"], [whole(rows[1])]
    )
    assert retried.status_code == 200, retried.text


async def test_a_repeated_payment_id_replays_the_first_answer_and_applies_nothing(system):
    loan, rows = await _active(system)
    parts = [_part(1, "100.00", str(rows[0]["interestAmount"]))]
    first = await pay(system, loan["loanId"], "PAY-R", loan["version"], parts)
    assert first.status_code == 200
    after_first = await _state(system, loan["loanId"])
    again = await pay(system, loan["loanId"], "PAY-R", loan["version"], parts)
    assert again.status_code == 200
    assert again.headers["idempotent-replayed"] == "true"
    assert data(again) == data(first)
    assert await _state(system, loan["loanId"]) == after_first

    # Still a replay after the loan has moved on (its version is no longer the one sent).
    later = await pay(system, loan["loanId"], "PAY-S", data(first)["loanVersion"], [whole(rows[1])])
    assert later.status_code == 200
    replayed = await pay(system, loan["loanId"], "PAY-R", loan["version"], parts)
    assert (replayed.status_code, data(replayed)) == (200, data(first))
    assert (await get_loan(system, loan["loanId"]))["outstandingAmount"] == Decimal(
        "6000.00"
    ) - Decimal("100.00") - rows[1]["principalAmount"]


async def test_a_payment_id_used_on_another_loan_is_a_conflict(system):
    loan, rows = await _active(system, "one")
    other, other_rows = await _active(system, "two")
    assert (
        await pay(system, loan["loanId"], "PAY-X", loan["version"], [whole(rows[0])])
    ).is_success
    before = await _state(system, other["loanId"])
    clash = await pay(system, other["loanId"], "PAY-X", other["version"], [whole(other_rows[0])])
    assert clash.status_code == 409
    assert await _state(system, other["loanId"]) == before


async def test_a_paid_installment_is_not_payable_again(system):
    loan, rows = await _active(system)
    first = await pay(system, loan["loanId"], "PAY-1", loan["version"], [whole(rows[0])])
    before = await _state(system, loan["loanId"])
    again = await pay(
        system,
        loan["loanId"],
        "PAY-2",
        data(first)["loanVersion"],
        [_part(1, "0.00", "0.00", penaltyPaid="1.00")],
    )
    assert again.status_code == 422
    assert error(again)["code"] == "INSTALLMENT_NOT_PAYABLE"
    assert await _state(system, loan["loanId"]) == before


@pytest.mark.parametrize(
    ("principal_extra", "interest_extra", "number"),
    [("0.01", "0.00", 1), ("0.00", "0.01", 1), ("0.00", "0.00", 7)],
    ids=["principal", "interest", "no-such-installment"],
)
async def test_more_than_an_installment_owes_is_not_payable(
    system, principal_extra, interest_extra, number
):
    loan, rows = await _active(system)
    part = _part(
        number,
        str(rows[0]["principalAmount"] + Decimal(principal_extra)),
        str(rows[0]["interestAmount"] + Decimal(interest_extra)),
    )
    before = await _state(system, loan["loanId"])
    refused = await pay(system, loan["loanId"], "PAY-OVER", loan["version"], [part])
    assert refused.status_code == 422, refused.text
    assert error(refused)["code"] == "INSTALLMENT_NOT_PAYABLE"
    assert await _state(system, loan["loanId"]) == before


async def test_more_principal_than_is_left_after_a_partial_payment_is_not_payable(system):
    loan, rows = await _active(system)
    first = rows[0]
    partly = await pay(
        system,
        loan["loanId"],
        "PAY-A",
        loan["version"],
        [_part(1, "100.00", str(first["interestAmount"]))],
    )
    refused = await pay(
        system,
        loan["loanId"],
        "PAY-B",
        data(partly)["loanVersion"],
        [_part(1, str(first["principalAmount"]), "0.00")],
    )
    assert refused.status_code == 422
    assert error(refused)["code"] == "INSTALLMENT_NOT_PAYABLE"


async def test_principal_is_not_paid_before_the_interest_of_its_installment(system):
    """api.md §4 rule 4: within an installment the money goes to interest, then principal."""
    loan, rows = await _active(system)
    first = rows[0]
    before = await _state(system, loan["loanId"])
    refused = await pay(
        system,
        loan["loanId"],
        "PAY-PRINCIPAL-FIRST",
        loan["version"],
        [_part(1, "500.00", str(first["interestAmount"] - Decimal("0.01")))],
    )
    assert refused.status_code == 422, refused.text
    assert error(refused)["code"] == "INSTALLMENT_NOT_PAYABLE"
    assert await _state(system, loan["loanId"]) == before


async def test_paying_principal_first_cannot_repay_more_principal_than_the_installment_has(system):
    """Were principal taken before interest, the interest-first bookkeeping of what is left would
    let a second payment repay the principal again, and the loan's outstanding amount would fall
    by more than the installment's principal."""
    loan, rows = await _active(system)
    first = rows[0]
    version = loan["version"]
    principal_paid = Decimal("0.00")
    for n, part in enumerate(
        [
            _part(1, str(first["interestAmount"]), "0.00"),
            _part(1, str(first["principalAmount"]), "0.00"),
        ]
    ):
        response = await pay(system, loan["loanId"], f"PAY-T{n}", version, [part])
        if response.status_code != 200:
            assert error(response)["code"] == "INSTALLMENT_NOT_PAYABLE"
            continue
        version = data(response)["loanVersion"]
        principal_paid += Decimal(part["principalPaid"])
    assert principal_paid <= first["principalAmount"]
    shown = await get_loan(system, loan["loanId"])
    assert shown["outstandingAmount"] == Decimal("6000.00") - principal_paid


async def test_a_penalty_is_not_paid_before_the_principal_and_interest(system):
    loan, rows = await _active(system)
    first = rows[0]
    part = _part(1, "100.00", str(first["interestAmount"]), penaltyPaid="5.00")
    refused = await pay(system, loan["loanId"], "PAY-PENALTY", loan["version"], [part])
    assert refused.status_code == 422, refused.text
    assert error(refused)["code"] == "INSTALLMENT_NOT_PAYABLE"


@pytest.mark.parametrize("status", ["APPROVED", "PAID_OFF"])
async def test_a_loan_that_is_not_active_takes_no_payment(system, status):
    if status == "APPROVED":
        loan = await approved_loan(system, "not-active", installmentCount=6)
        rows = loan["installments"]
    else:
        loan, rows = await _active(system)
        done = await pay(
            system, loan["loanId"], "PAY-ALL", loan["version"], [whole(r) for r in rows]
        )
        loan = {**loan, "version": data(done)["loanVersion"]}
    before = await _state(system, loan["loanId"])
    refused = await pay(system, loan["loanId"], "PAY-LATE", loan["version"], [whole(rows[0])])
    assert refused.status_code == 422
    assert error(refused)["code"] == "INVALID_LOAN_STATE"
    assert await _state(system, loan["loanId"]) == before


async def test_a_payment_on_an_unknown_loan_is_404(system):
    response = await pay(system, "LOAN-NOPE", "PAY-N", 1, [_part(1, "1.00", "0.00")])
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"installments": []}, "installments"),
        ({"expectedVersion": 0}, "expectedVersion"),
        ({"paidAt": "yesterday"}, "paidAt"),
        ({"installments": [_part(1, "-1.00", "0.00")]}, "installments.0.principalPaid"),
        ({"installments": [_part(1, "1.001", "0.00")]}, "installments.0.principalPaid"),
        ({"installments": [_part(1, "1.00", "0.00"), _part(1, "1.00", "0.00")]}, "installments"),
    ],
    ids=["none", "version-0", "bad-time", "negative", "three-decimals", "twice"],
)
async def test_a_malformed_payment_is_400(system, change, field):
    loan, _ = await _active(system)
    payload = {
        "paymentId": "PAY-BAD",
        "expectedVersion": loan["version"],
        "paidAt": "2026-04-01T09:00:00Z",
        "installments": [_part(1, "1.00", "0.00")],
        **change,
    }
    before = await _state(system, loan["loanId"])
    response = await system.loan.client.post(
        f"/internal/v1/loans/{loan['loanId']}/payments", json=payload
    )
    assert response.status_code == 400, response.text
    assert field in {d["field"] for d in error(response)["details"]}
    assert await _state(system, loan["loanId"]) == before


async def test_two_payments_racing_on_one_version_apply_once(system):
    loan, rows = await _active(system)
    responses = await asyncio.gather(
        *(
            pay(system, loan["loanId"], f"PAY-RACE-{n}", loan["version"], [whole(rows[0])])
            for n in range(5)
        )
    )
    assert sorted(r.status_code for r in responses) == [200] + [409] * 4
    _, stored, applied = await _state(system, loan["loanId"])
    assert applied == 1
    assert stored[0]["paid_amount"] == rows[0]["totalAmount"]
    assert (await get_loan(system, loan["loanId"]))["outstandingAmount"] == Decimal(
        "6000.00"
    ) - rows[0]["principalAmount"]
