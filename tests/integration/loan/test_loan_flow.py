"""A loan's life across the customer and loan services, over real HTTP."""

from __future__ import annotations

from decimal import Decimal

from tests.integration.loan.conftest import body, loan_request, new_customer, relay
from tests.integration.loan.helpers import PLAYS_THE_PAYMENT_SERVICE


async def _reserve(customer_client, customer_id, amount, application_id):
    reserved = await customer_client.post(
        f"/api/v1/customers/{customer_id}/credit/reserve",
        json={
            "amount": amount,
            "purpose": "LOAN",
            "loanApplicationId": application_id,
            "reservationTimeout": 3600,
        },
    )
    assert reserved.status_code == 200, reserved.text
    return body(reserved)["data"]


async def _customer(customer_client, customer_id):
    return body(await customer_client.get(f"/api/v1/customers/{customer_id}"))["data"]


async def test_an_approved_loan_turns_its_reservation_into_used_credit_exactly_once(system):
    customer = await new_customer(system.customer.client)
    cid = customer["customerId"]
    await _reserve(system.customer.client, cid, "12000.00", "APP-FLOW-1")

    created = await system.loan.client.post(
        "/api/v1/loans", json=loan_request(cid, applicationId="APP-FLOW-1")
    )
    assert created.status_code == 201, created.text
    loan = body(created)["data"]
    assert loan["status"] == "APPROVED"
    assert loan["application"]["approvalConditions"]["automatic"] is True
    assert sum(i["principalAmount"] for i in loan["installments"]) == Decimal("12000.00")

    assert await relay(system) == 1
    after = await _customer(system.customer.client, cid)
    assert after["usedCredit"] == Decimal("12000.00")
    assert after["availableCredit"] == Decimal("38000.00")

    # The same event delivered again (a relay that crashed before marking it) changes nothing.
    async with system.loan.app.state.db.transaction() as conn:
        await conn.execute("UPDATE data_sync_events SET status = 'PENDING'")
    assert await relay(system) == 1
    again = await _customer(system.customer.client, cid)
    assert (again["usedCredit"], again["availableCredit"]) == (
        Decimal("12000.00"),
        Decimal("38000.00"),
    )


@PLAYS_THE_PAYMENT_SERVICE
async def test_a_loan_disbursed_and_paid_installment_by_installment_is_paid_off(system):
    customer = await new_customer(system.customer.client, tag="payer")
    cid = customer["customerId"]
    created = body(
        await system.loan.client.post(
            "/api/v1/loans",
            json=loan_request(
                cid, loanAmount="6000.00", installmentCount=6, applicationDate="2026-01-10"
            ),
        )
    )["data"]
    loan_id = created["loanId"]
    disbursed = await system.loan.client.post(
        f"/api/v1/loans/{loan_id}/disburse", json={"disbursementDate": "2026-03-20"}
    )
    assert disbursed.status_code == 200, disbursed.text
    assert body(disbursed)["data"]["firstInstallmentDate"] == "2026-04-01"

    schedule = body(await system.loan.client.get(f"/api/v1/loans/{loan_id}/installments"))["data"]
    assert schedule["installments"][0]["dueDate"] == "2026-04-01"
    version = body(disbursed)["data"]["version"]
    for row in schedule["installments"]:
        applied = await system.loan.client.post(
            f"/internal/v1/loans/{loan_id}/payments",
            json={
                "paymentId": f"PAY-{row['installmentNumber']}",
                "expectedVersion": version,
                "paidAt": "2026-04-01T09:00:00Z",
                "installments": [
                    {
                        "installmentNumber": row["installmentNumber"],
                        "principalPaid": str(row["principalAmount"]),
                        "interestPaid": str(row["interestAmount"]),
                    }
                ],
            },
        )
        assert applied.status_code == 200, applied.text
        version = body(applied)["data"]["loanVersion"]
    final = body(await system.loan.client.get(f"/api/v1/loans/{loan_id}"))["data"]
    assert final["status"] == "PAID_OFF"
    assert final["outstandingAmount"] == Decimal("0.00")
    assert final["paidInstallments"] == 6
    assert final["paymentHistory"]["totalPaid"] == final["totalRepaymentAmount"]


@PLAYS_THE_PAYMENT_SERVICE
async def test_apply_payment_refuses_a_stale_version_and_replays_a_repeat(system):
    customer = await new_customer(system.customer.client, tag="stale")
    loan = body(
        await system.loan.client.post(
            "/api/v1/loans", json=loan_request(customer["customerId"], installmentCount=6)
        )
    )["data"]
    loan_id = loan["loanId"]
    disbursed = body(await system.loan.client.post(f"/api/v1/loans/{loan_id}/disburse", json={}))
    version = disbursed["data"]["version"]
    first = loan["installments"][0]
    payment = {
        "paymentId": "PAY-STALE-1",
        "expectedVersion": version,
        "paidAt": "2026-11-01T10:00:00Z",
        "installments": [
            {
                "installmentNumber": 1,
                "principalPaid": str(first["principalAmount"]),
                "interestPaid": str(first["interestAmount"]),
            }
        ],
    }
    url = f"/internal/v1/loans/{loan_id}/payments"
    applied = await system.loan.client.post(url, json=payment)
    assert applied.status_code == 200
    repeated = await system.loan.client.post(url, json=payment)
    assert repeated.status_code == 200
    assert repeated.headers["idempotent-replayed"] == "true"
    assert body(repeated)["data"] == body(applied)["data"]

    stale = await system.loan.client.post(
        url,
        json={
            **payment,
            "paymentId": "PAY-STALE-2",
            "installments": [
                {"installmentNumber": 2, "principalPaid": "1.00", "interestPaid": "0.00"}
            ],
        },
    )
    assert stale.status_code == 409
    assert body(stale)["error"]["code"] == "VERSION_CONFLICT"
    rows = body(await system.loan.client.get(f"/api/v1/loans/{loan_id}/installments"))["data"]
    assert [r["status"] for r in rows["installments"][:2]] == ["PAID", "PENDING"]


@PLAYS_THE_PAYMENT_SERVICE
async def test_a_partial_payment_shows_what_principal_and_interest_remain(system):
    customer = await new_customer(system.customer.client, tag="partial")
    loan = body(
        await system.loan.client.post(
            "/api/v1/loans", json=loan_request(customer["customerId"], installmentCount=6)
        )
    )["data"]
    loan_id = loan["loanId"]
    version = body(await system.loan.client.post(f"/api/v1/loans/{loan_id}/disburse", json={}))[
        "data"
    ]["version"]
    first = loan["installments"][0]
    applied = await system.loan.client.post(
        f"/internal/v1/loans/{loan_id}/payments",
        json={
            "paymentId": "PAY-PARTIAL-1",
            "expectedVersion": version,
            "paidAt": "2026-11-20T10:00:00Z",
            "installments": [
                {
                    "installmentNumber": 1,
                    "principalPaid": "100.00",
                    "interestPaid": str(first["interestAmount"]),
                }
            ],
        },
    )
    assert applied.status_code == 200, applied.text
    row = body(await system.loan.client.get(f"/api/v1/loans/{loan_id}/installments"))["data"][
        "installments"
    ][0]
    assert row["status"] == "PARTIALLY_PAID"
    assert row["interestRemaining"] == Decimal("0.00")
    assert row["principalRemaining"] == first["principalAmount"] - Decimal("100.00")
    assert row["remainingAmount"] == row["principalRemaining"]
