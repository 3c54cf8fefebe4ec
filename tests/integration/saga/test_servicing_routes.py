"""The business-day routes through the gateway, as each role uses them: the business date (read
by anyone signed in, moved only by an administrator and only in manual mode), close-of-business
runs (officers), a loan's delinquency history (its owner and officers), and penalty waivers
(officers): each refusal with its code, and nothing changed by it."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from elms.core.business_day import calendar_date
from tests.conftest import bearer
from tests.integration.saga.helpers import active_loan, data, error, get_loan, pay
from tests.integration.saga.helpers import customer as customer_of

BUSINESS_DATE = "/api/v1/operations/business-date"


def _as(settings, role: str, customer_id: str | None = None) -> dict[str, str]:
    return {"Authorization": bearer(settings, role, customer_id)}


async def test_anyone_reads_the_business_date_and_only_an_admin_moves_it(system, gateway):
    loan = await active_loan(system, gateway, "reader")
    customer = _as(system.settings, "CUSTOMER", loan["customerId"])
    officer = _as(system.settings, "LOAN_OFFICER")
    shown = await gateway.client.get(BUSINESS_DATE, headers=customer)
    assert shown.status_code == 200, shown.text
    assert (data(shown)["businessDate"], data(shown)["mode"]) == (
        calendar_date().isoformat(),
        "calendar",
    )
    assert shown.json()["metadata"]["businessDate"] == calendar_date().isoformat()

    later = {"date": "2099-01-01"}
    for who in (customer, officer):
        refused = await gateway.client.post(BUSINESS_DATE, json=later, headers=who)
        assert (refused.status_code, error(refused)["code"]) == (403, "FORBIDDEN")
    # An administrator, in calendar mode: the date follows the calendar.
    refused = await gateway.client.post(BUSINESS_DATE, json=later)
    assert (refused.status_code, error(refused)["code"]) == (422, "BUSINESS_DATE_MODE_CALENDAR")
    assert error(refused)["details"][0]["field"] == "date"
    malformed = await gateway.client.post(BUSINESS_DATE, json={"date": "tomorrow"})
    assert (malformed.status_code, error(malformed)["code"]) == (400, "VALIDATION_ERROR")
    assert data(await gateway.client.get(BUSINESS_DATE))["businessDate"] == str(calendar_date())

    runs = await gateway.client.get("/api/v1/operations/cob-runs", headers=officer)
    assert runs.status_code == 200, runs.text
    refused = await gateway.client.get("/api/v1/operations/cob-runs", headers=customer)
    assert (refused.status_code, error(refused)["code"]) == (403, "FORBIDDEN")


async def test_an_officer_waives_a_penalty_and_no_one_else_can(system, gateway):
    loan = await active_loan(system, gateway, "waived")
    loan_id = loan["loanId"]
    first = (await get_loan(gateway, loan_id))["installments"][0]
    owed = first["penaltyDue"]
    assert owed > 0, first  # the first installment fell due about seventy days ago
    path = f"/api/v1/loans/{loan_id}/installments/1/waive-penalty"
    customer = _as(system.settings, "CUSTOMER", loan["customerId"])
    refused = await gateway.client.post(path, json={"reason": "mine"}, headers=customer)
    assert (refused.status_code, error(refused)["code"]) == (403, "FORBIDDEN")
    too_much = await gateway.client.post(
        path, json={"amount": str(owed + Decimal("0.01")), "reason": "goodwill"}
    )
    assert (too_much.status_code, error(too_much)["code"]) == (422, "WAIVER_EXCEEDS_PENALTY")
    assert error(too_much)["penaltyOutstanding"] == owed
    no_reason = await gateway.client.post(path, json={"amount": "1.00"})
    assert (no_reason.status_code, error(no_reason)["code"]) == (400, "VALIDATION_ERROR")
    unchanged = (await get_loan(gateway, loan_id))["installments"][0]
    assert (unchanged["penaltyDue"], unchanged["penaltyWaived"]) == (owed, Decimal("0.00"))

    officer = _as(system.settings, "LOAN_OFFICER")
    part = await gateway.client.post(
        path, json={"amount": "1.00", "reason": "bank holiday"}, headers=officer
    )
    assert part.status_code == 200, part.text
    waived = data(part)
    assert (waived["amount"], waived["penaltyOutstanding"]) == (
        Decimal("1.00"),
        owed - Decimal("1.00"),
    )
    assert waived["businessDate"] == str(calendar_date())
    # The rest, without an amount: all of it; the installment still owes its principal and
    # interest, so it is not paid.
    rest = await gateway.client.post(path, json={"reason": "goodwill"}, headers=officer)
    assert rest.status_code == 200, rest.text
    assert data(rest)["amount"] == owed - Decimal("1.00")
    after = (await get_loan(gateway, loan_id))["installments"][0]
    assert (after["penaltyDue"], after["penaltyWaived"], after["status"]) == (
        Decimal("0.00"),
        owed,
        first["status"],
    )
    nothing = await gateway.client.post(path, json={"reason": "again"}, headers=officer)
    assert (nothing.status_code, error(nothing)["code"]) == (422, "WAIVER_EXCEEDS_PENALTY")
    # Paying it now costs only its principal and interest.
    paid = await pay(gateway, loan_id, first["remainingAmount"], installmentNumbers=[1])
    assert paid.status_code == 201, paid.text
    [row] = data(paid)["installmentPayments"]
    assert (row["penaltyPaid"], row["paidAmount"]) == (Decimal("0.00"), first["remainingAmount"])
    settled = (await get_loan(gateway, loan_id))["installments"][0]
    assert settled["status"] == "PAID"


async def test_a_customer_reads_the_history_of_their_own_loan_only(system, gateway):
    mine = await active_loan(system, gateway, "history-mine")
    theirs = await active_loan(system, gateway, "history-theirs", disbursed=date(2025, 1, 1))
    customer = _as(system.settings, "CUSTOMER", mine["customerId"])
    own = await gateway.client.get(
        f"/api/v1/loans/{mine['loanId']}/delinquency-history", headers=customer
    )
    assert own.status_code == 200, own.text
    assert data(own)["content"] == []
    other = await gateway.client.get(
        f"/api/v1/loans/{theirs['loanId']}/delinquency-history", headers=customer
    )
    assert (other.status_code, error(other)["code"]) == (404, "NOT_FOUND")
    missing = await gateway.client.get("/api/v1/loans/LOAN-NONE/delinquency-history")
    assert (missing.status_code, error(missing)["code"]) == (404, "NOT_FOUND")


async def test_a_payoff_quote_is_its_definition_on_the_day_asked(system, gateway):
    loan = await active_loan(system, gateway, "payoff")
    loan_id = loan["loanId"]
    shown = await get_loan(gateway, loan_id)
    rows = shown["installments"]
    on = calendar_date() + timedelta(days=3)
    answer = await gateway.client.get(f"/api/v1/loans/{loan_id}/payoff", params={"date": str(on)})
    assert answer.status_code == 200, answer.text
    quote = data(answer)
    assert (quote["loanId"], quote["date"]) == (loan_id, str(on))
    due = [r for r in rows if date.fromisoformat(r["dueDate"]) <= on]
    later = [r for r in rows if date.fromisoformat(r["dueDate"]) > on]
    start = date.fromisoformat(due[-1]["dueDate"])
    current_end = date.fromisoformat(later[0]["dueDate"])
    prorated = (
        later[0]["interestAmount"] * (on - start).days / (current_end - start).days
    ).quantize(Decimal("0.01"), ROUND_HALF_UP)
    penalty = sum(
        (
            (
                r["totalAmount"] * Decimal("0.001") * (on - date.fromisoformat(r["dueDate"])).days
            ).quantize(Decimal("0.01"), ROUND_HALF_UP)
            for r in due
        ),
        Decimal("0"),
    )
    assert quote["principalOutstanding"] == shown["outstandingAmount"]
    assert quote["interestDue"] == sum(r["interestAmount"] for r in due) + prorated
    assert quote["penaltyDue"] == penalty
    assert quote["feesDue"] == Decimal("0.00")
    assert quote["payoffAmount"] == shown["outstandingAmount"] + quote["interestDue"] + penalty
    assert quote["interestWaived"] == sum(r["interestAmount"] for r in later) - prorated
    assert [line["installmentNumber"] for line in quote["installments"]] == [
        r["installmentNumber"] for r in rows
    ]
    # By default on the business date.
    today = data(await gateway.client.get(f"/api/v1/loans/{loan_id}/payoff"))
    assert today["date"] == str(calendar_date())


async def test_a_payoff_is_quoted_only_for_a_loan_lent_out_and_never_for_the_past(system, gateway):
    loan = await active_loan(system, gateway, "payoff-refused")
    yesterday = str(calendar_date() - timedelta(days=1))
    past = await gateway.client.get(
        f"/api/v1/loans/{loan['loanId']}/payoff", params={"date": yesterday}
    )
    assert (past.status_code, error(past)["code"]) == (400, "VALIDATION_ERROR")
    assert error(past)["details"][0]["field"] == "date"
    other = await active_loan(system, gateway, "payoff-other")
    customer = _as(system.settings, "CUSTOMER", loan["customerId"])
    theirs = await gateway.client.get(f"/api/v1/loans/{other['loanId']}/payoff", headers=customer)
    assert (theirs.status_code, error(theirs)["code"]) == (404, "NOT_FOUND")
    own = await gateway.client.get(f"/api/v1/loans/{loan['loanId']}/payoff", headers=customer)
    assert own.status_code == 200, own.text
    person = await customer_of(system, "payoff-pending")
    pending = await gateway.client.post(
        "/api/v1/loans",
        json={
            "customerId": person["customerId"],
            "loanAmount": "1000.00",
            "interestRate": "0.12",
            "installmentCount": 6,
            "loanType": "PERSONAL",
        },
    )
    assert pending.status_code == 201, pending.text
    not_lent = await gateway.client.get(f"/api/v1/loans/{data(pending)['loanId']}/payoff")
    assert (not_lent.status_code, error(not_lent)["code"]) == (422, "INVALID_LOAN_STATE")


async def test_paying_the_quote_pays_the_loan_off_and_gives_all_its_credit_back(system, gateway):
    loan = await active_loan(system, gateway, "paying-off")
    loan_id = loan["loanId"]
    quote = data(await gateway.client.get(f"/api/v1/loans/{loan_id}/payoff"))
    needed = quote["payoffAmount"]

    short = await pay(gateway, loan_id, needed - Decimal("0.01"), payoff=True)
    assert (short.status_code, error(short)["code"]) == (422, "PAYMENT_AMOUNT_TOO_LOW")
    assert error(short)["amountNeeded"] == needed
    mixed = await pay(gateway, loan_id, needed, payoff=True, isPartialPayment=True)
    assert (mixed.status_code, error(mixed)["code"]) == (400, "VALIDATION_ERROR")
    assert (await get_loan(gateway, loan_id))["status"] == "ACTIVE"

    paid = await pay(gateway, loan_id, needed + Decimal("10.00"), payoff=True)
    assert paid.status_code == 201, paid.text
    payment = data(paid)
    assert (payment["paymentType"], payment["paymentAmount"]) == ("PAYOFF", needed)
    assert payment["unappliedAmount"] == Decimal("10.00")
    rows = payment["installmentPayments"]
    assert sum(r["interestWaived"] for r in rows) == quote["interestWaived"]
    assert [
        (r["principalPaid"], r["interestPaid"], r["penaltyPaid"], r["interestWaived"]) for r in rows
    ] == [
        (line["principal"], line["interest"], line["penalty"], line["interestWaived"])
        for line in quote["installments"]
    ]
    closed = await get_loan(gateway, loan_id)
    assert (closed["status"], closed["outstandingAmount"]) == ("PAID_OFF", Decimal("0.00"))
    for row in closed["installments"]:
        assert row["status"] == "PAID"
        assert (row["remainingAmount"], row["penaltyDue"], row["penaltyOutstanding"]) == (
            Decimal("0.00"),
            Decimal("0.00"),
            Decimal("0.00"),
        )
    assert sum(r["interestWaived"] for r in closed["installments"]) == quote["interestWaived"]
    person = await gateway.client.get(f"/api/v1/customers/{loan['customerId']}")
    assert data(person)["usedCredit"] == Decimal("0.00")
