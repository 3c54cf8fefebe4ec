"""Schedules as stored in loan_db and as previewed (api.md §3 "Schedule" and preview): exact to
the cent, summing to the loan amount and the total repayment, due on the first of each month."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, localcontext

from tests.integration.loan.conftest import loan_request, new_customer
from tests.integration.loan.helpers import LOANS, counts, create, data, error, loan_fetch

CENT = Decimal("0.01")
PREVIEW = f"{LOANS}/preview"


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


async def _stored(system, loan_id: str):
    loan = (await loan_fetch(system, "SELECT * FROM loans WHERE loan_id = $1", loan_id))[0]
    rows = await loan_fetch(
        system,
        "SELECT * FROM loan_installments WHERE loan_id = $1 ORDER BY installment_number",
        loan_id,
    )
    return loan, rows


def _assert_adds_up(loan, rows) -> None:
    assert [r["installment_number"] for r in rows] == list(range(1, loan["installment_count"] + 1))
    assert sum(r["principal_amount"] for r in rows) == loan["loan_amount"]
    assert sum(r["total_amount"] for r in rows) == loan["total_repayment_amount"]
    for row in rows:
        assert row["total_amount"] == row["principal_amount"] + row["interest_amount"]
        assert row["principal_amount"] >= Decimal("0.00")
        assert row["interest_amount"] >= Decimal("0.00")
        assert row["remaining_amount"] == row["total_amount"]
        assert (row["status"], row["paid_amount"]) == ("PENDING", Decimal("0.00"))
    # Every installment but the last is the installment amount; the last absorbs the rounding.
    assert {r["total_amount"] for r in rows[:-1]} == {loan["installment_amount"]}
    assert loan["maturity_date"] == rows[-1]["due_date"] == loan["last_installment_date"]
    assert loan["first_installment_date"] == rows[0]["due_date"]


async def test_a_declining_balance_schedule_in_the_database_adds_up_exactly(system):
    customer = await new_customer(system.customer.client)
    loan = await create(
        system,
        customer["customerId"],
        loanAmount="10000.01",
        interestRate="0.1399",
        installmentCount=24,
    )
    stored, rows = await _stored(system, loan["loanId"])
    assert stored["loan_amount"] == Decimal("10000.01")
    assert stored["interest_method"] == "DECLINING_BALANCE"
    _assert_adds_up(stored, rows)

    # installment = P·r / (1 − (1 + r)^−n), r = rate / 12, rounded half-up to the cent.
    with localcontext() as context:
        context.prec = 50
        r = Decimal("0.1399") / 12
        annuity = cents(Decimal("10000.01") * r / (1 - (1 + r) ** -24))
        # Each installment's interest is the outstanding principal × r, rounded to the cent.
        outstanding = Decimal("10000.01")
        for row in rows:
            assert row["interest_amount"] == cents(outstanding * r), row["installment_number"]
            outstanding -= row["principal_amount"]
    assert stored["installment_amount"] == annuity
    assert outstanding == Decimal("0.00")
    assert stored["total_repayment_amount"] == sum(r["total_amount"] for r in rows)


async def test_the_api_shows_the_schedule_the_database_holds(system):
    customer = await new_customer(system.customer.client)
    loan = await create(system, customer["customerId"], loanAmount="7777.77", installmentCount=9)
    _, rows = await _stored(system, loan["loanId"])
    shown = [
        (i["installmentNumber"], i["dueDate"], i["principalAmount"], i["interestAmount"])
        for i in loan["installments"]
    ]
    assert shown == [
        (
            r["installment_number"],
            r["due_date"].isoformat(),
            r["principal_amount"],
            r["interest_amount"],
        )
        for r in rows
    ]


async def test_a_flat_schedule_charges_interest_on_the_whole_amount_for_the_whole_term(system):
    customer = await new_customer(system.customer.client)
    loan = await create(system, customer["customerId"], interestMethod="FLAT")
    stored, rows = await _stored(system, loan["loanId"])
    _assert_adds_up(stored, rows)
    # 12000 × 0.12 × 12 / 12 = 1440 of interest, in 12 equal installments of 1120.
    assert stored["interest_method"] == "FLAT"
    assert loan["interestMethod"] == "FLAT"
    assert stored["total_repayment_amount"] == Decimal("13440.00")
    assert stored["installment_amount"] == Decimal("1120.00")
    assert {(r["principal_amount"], r["interest_amount"]) for r in rows} == {
        (Decimal("1000.00"), Decimal("120.00"))
    }


async def test_a_flat_schedule_with_remainders_still_adds_up_exactly(system):
    customer = await new_customer(system.customer.client)
    loan = await create(
        system,
        customer["customerId"],
        loanAmount="10000.01",
        interestRate="0.1399",
        installmentCount=9,
        interestMethod="FLAT",
    )
    stored, rows = await _stored(system, loan["loanId"])
    _assert_adds_up(stored, rows)
    # Interest 10000.01 × 0.1399 × 9 / 12 = 1049.2510… → 1049.25; total 11049.26; installment
    # 11049.26 / 9 = 1227.695… → 1227.70, and the last one 11049.26 − 8 × 1227.70 = 1227.66.
    assert sum(r["interest_amount"] for r in rows) == Decimal("1049.25")
    assert stored["total_repayment_amount"] == Decimal("11049.26")
    assert stored["installment_amount"] == Decimal("1227.70")
    assert rows[-1]["total_amount"] == Decimal("1227.66")
    # Each installment splits principal and interest in the loan's proportion (to the cent).
    share = Decimal("10000.01") / Decimal("11049.26")
    for row in rows:
        assert abs(row["principal_amount"] - row["total_amount"] * share) <= CENT


async def test_due_dates_are_the_first_of_each_month_after_the_application(system):
    customer = await new_customer(system.customer.client)
    loan = await create(
        system, customer["customerId"], applicationDate="2025-11-15", installmentCount=6
    )
    assert [i["dueDate"] for i in loan["installments"]] == [
        "2025-12-01",
        "2026-01-01",
        "2026-02-01",
        "2026-03-01",
        "2026-04-01",
        "2026-05-01",
    ]
    assert loan["maturityDate"] == "2026-05-01"
    assert loan["applicationDate"].startswith("2025-11-15")


async def test_a_requested_disbursement_date_starts_the_schedule_after_it(system):
    customer = await new_customer(system.customer.client)
    loan = await create(
        system,
        customer["customerId"],
        applicationDate="2025-11-15",
        requestedDisbursementDate="2026-01-31",
        installmentCount=6,
    )
    assert loan["firstInstallmentDate"] == "2026-02-01"
    assert loan["maturityDate"] == "2026-07-01"


# --- preview ---------------------------------------------------------------------------------


def _preview_request(**overrides):
    return {
        "loanAmount": "12000.00",
        "interestRate": "0.12",
        "installmentCount": 12,
        "applicationDate": "2026-01-10",
        **overrides,
    }


async def test_a_preview_returns_the_schedule_and_stores_nothing(system):
    before = await counts(system)
    response = await system.loan.client.post(PREVIEW, json=_preview_request())
    assert response.status_code == 200, response.text
    preview = data(response)
    assert preview["installmentAmount"] == Decimal("1066.19")
    assert preview["interestMethod"] == "DECLINING_BALANCE"
    assert len(preview["installments"]) == 12
    assert sum(i["principalAmount"] for i in preview["installments"]) == Decimal("12000.00")
    assert sum(i["totalAmount"] for i in preview["installments"]) == preview["totalRepaymentAmount"]
    assert preview["totalInterest"] == preview["totalRepaymentAmount"] - Decimal("12000.00")
    assert preview["firstInstallmentDate"] == "2026-02-01"
    assert preview["maturityDate"] == "2027-01-01"
    assert (
        await counts(system)
        == before
        == {
            "loans": 0,
            "loan_applications": 0,
            "loan_installments": 0,
            "data_sync_events": 0,
        }
    )


async def test_a_preview_is_the_schedule_the_loan_then_gets(system):
    request = _preview_request(
        loanAmount="23456.78", interestRate="0.2345", installmentCount=24, interestMethod="FLAT"
    )
    preview = data(await system.loan.client.post(PREVIEW, json=request))
    customer = await new_customer(system.customer.client)
    loan = await create(system, customer["customerId"], **request)
    keys = ("installmentNumber", "dueDate", "principalAmount", "interestAmount", "totalAmount")
    assert [{k: i[k] for k in keys} for i in preview["installments"]] == [
        {k: i[k] for k in keys} for i in loan["installments"]
    ]
    assert preview["installmentAmount"] == loan["installmentAmount"]
    assert preview["totalRepaymentAmount"] == loan["totalRepaymentAmount"]


async def test_a_flat_preview_has_flat_interest(system):
    preview = data(
        await system.loan.client.post(PREVIEW, json=_preview_request(interestMethod="FLAT"))
    )
    assert preview["totalInterest"] == Decimal("1440.00")
    assert preview["installmentAmount"] == Decimal("1120.00")


async def test_a_preview_is_validated_like_a_loan_request(system):
    response = await system.loan.client.post(
        PREVIEW,
        json=_preview_request(installmentCount=5, loanAmount="1.001", interestMethod="SIMPLE"),
    )
    assert response.status_code == 400
    assert {d["field"] for d in error(response)["details"]} == {
        "installmentCount",
        "loanAmount",
        "interestMethod",
    }


async def test_a_preview_below_the_policy_rate_is_refused(system):
    response = await system.loan.client.post(PREVIEW, json=_preview_request(interestRate="0.05"))
    assert response.status_code == 400
    assert [d["field"] for d in error(response)["details"]] == ["interestRate"]


async def test_a_preview_with_a_disbursement_before_the_application_is_refused(system):
    response = await system.loan.client.post(
        PREVIEW, json=_preview_request(requestedDisbursementDate="2026-01-01")
    )
    assert response.status_code == 400
    assert [d["field"] for d in error(response)["details"]] == ["requestedDisbursementDate"]


async def test_a_loan_request_body_is_a_valid_preview_request(system):
    # The officer's calculator takes the loan request as it is; fields it does not need are
    # ignored.
    response = await system.loan.client.post(PREVIEW, json=loan_request("CUST-ANY"))
    assert response.status_code == 200, response.text
    assert data(response)["loanAmount"] == Decimal("12000.00")
