"""A loan's lifecycle (api.md §3): approve, reject, cancel, disburse; every other move is
422 INVALID_LOAN_STATE; each move writes its outbox event in its own transaction."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal

import asyncpg
import pytest

from elms.core.business_day import today
from tests.integration.loan.helpers import (
    PLAYS_THE_PAYMENT_SERVICE,
    act,
    active_loan,
    approved_loan,
    data,
    error,
    events,
    get_loan,
    loan_val,
    pay,
    pending_loan,
    schedule,
    whole,
)

ACTIONS = {
    "approve": {"notes": "looks fine"},
    "reject": {"reason": "too risky"},
    "cancel": {"reason": "customer withdrew"},
    "disburse": {},
}
ALLOWED = {
    "PENDING_APPROVAL": {"approve", "reject", "cancel"},
    "APPROVED": {"cancel", "disburse"},
}


async def _loan_in(system, status: str) -> dict:
    tag = status.lower()
    if status == "PENDING_APPROVAL":
        return await pending_loan(system, tag)
    if status == "APPROVED":
        return await approved_loan(system, tag)
    if status in ("REJECTED", "CANCELLED"):
        loan = await pending_loan(system, tag)
        action = "reject" if status == "REJECTED" else "cancel"
        moved = await act(system, loan["loanId"], action, ACTIONS[action])
        assert moved.status_code == 200, moved.text
        return data(moved)
    loan = await active_loan(system, tag, installmentCount=6)
    if status == "PAID_OFF":
        rows = (await schedule(system, loan["loanId"]))["installments"]
        paid = await pay(
            system, loan["loanId"], "PAY-OFF", loan["version"], [whole(r) for r in rows]
        )
        assert paid.status_code == 200, paid.text
        return await get_loan(system, loan["loanId"])
    return loan


# --- approve -----------------------------------------------------------------------------------


async def test_an_officer_approves_a_pending_loan_and_the_event_is_written(system):
    loan = await pending_loan(system, "approve", applicationId="APP-OFFICER-1")
    approved = await act(
        system,
        loan["loanId"],
        "approve",
        {"notes": "Collateral checked", "conditions": {"insurance": True}, "officerId": "off-7"},
    )
    assert approved.status_code == 200, approved.text
    moved = data(approved)
    assert moved["status"] == "APPROVED"
    assert moved["approvalDate"] is not None
    assert moved["version"] == loan["version"] + 1

    shown = await get_loan(system, loan["loanId"])
    assert shown["status"] == "APPROVED"
    application = shown["application"]
    assert application["applicationStatus"] == "APPROVED"
    assert application["reviewerId"] == "off-7"
    assert application["reviewedAt"] is not None
    assert "Collateral checked" in application["reviewNotes"]

    [event] = await events(system, loan["loanId"])
    assert (event["event_type"], event["status"]) == ("LOAN_APPROVED", "PENDING")
    assert (event["source_service"], event["target_service"]) == ("loan", "customer")
    assert event["entity_type"] == "LOAN"
    payload = event["event_data"]
    assert payload["loanId"] == loan["loanId"]
    assert payload["applicationId"] == "APP-OFFICER-1"
    assert payload["customerId"] == loan["customerId"]
    assert Decimal(str(payload["loanAmount"])) == Decimal("12000.00")
    assert payload["previousStatus"] == "PENDING_APPROVAL"


async def test_an_approval_whose_event_cannot_be_written_changes_nothing(system, database):
    """The event is written in the approval's transaction: if it fails, so does the approval."""
    loan = await pending_loan(system, "atomic")
    admin = await asyncpg.connect(database.admin_url)
    try:
        await admin.execute(
            """CREATE FUNCTION loan_db.refuse_event() RETURNS trigger LANGUAGE plpgsql AS
               $$ BEGIN RAISE EXCEPTION 'outbox unavailable'; END $$;
               CREATE TRIGGER refuse_event BEFORE INSERT ON loan_db.data_sync_events
               FOR EACH ROW EXECUTE FUNCTION loan_db.refuse_event();"""
        )
        failed = await act(system, loan["loanId"], "approve")
        assert failed.status_code == 500
        still = await get_loan(system, loan["loanId"])
        assert (still["status"], still["version"]) == ("PENDING_APPROVAL", loan["version"])
        assert still["application"]["applicationStatus"] == "SUBMITTED"

        await admin.execute("DROP TRIGGER refuse_event ON loan_db.data_sync_events")
    finally:
        await admin.close()
    approved = await act(system, loan["loanId"], "approve")
    assert approved.status_code == 200, approved.text
    assert [e["event_type"] for e in await events(system, loan["loanId"])] == ["LOAN_APPROVED"]


async def test_ten_officers_approving_at_once_approve_once(system):
    loan = await pending_loan(system, "race")
    responses = await asyncio.gather(
        *(act(system, loan["loanId"], "approve", {"notes": f"officer {n}"}) for n in range(10))
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [422] * 9, [r.text for r in responses]
    assert {error(r)["code"] for r in responses if r.status_code == 422} == {"INVALID_LOAN_STATE"}
    assert [e["event_type"] for e in await events(system, loan["loanId"])] == ["LOAN_APPROVED"]
    shown = await get_loan(system, loan["loanId"])
    assert (shown["status"], shown["version"]) == ("APPROVED", loan["version"] + 1)


async def test_officers_approving_and_rejecting_at_once_decide_once(system):
    loan = await pending_loan(system, "two-way")
    responses = await asyncio.gather(
        *(act(system, loan["loanId"], a, ACTIONS[a]) for a in ("approve", "reject") * 5)
    )
    winners = [r for r in responses if r.status_code == 200]
    assert len(winners) == 1, [r.text for r in responses]
    assert all(error(r)["code"] == "INVALID_LOAN_STATE" for r in responses if r.status_code != 200)
    final = await get_loan(system, loan["loanId"])
    assert final["status"] == data(winners[0])["status"]
    assert len(await events(system, loan["loanId"])) == 1


# --- reject and cancel -------------------------------------------------------------------------


@pytest.mark.parametrize("payload", [{}, {"reason": ""}, {"reason": "   "}, {"reason": None}])
async def test_a_rejection_needs_a_reason(system, payload):
    loan = await pending_loan(system, "reason")
    response = await act(system, loan["loanId"], "reject", payload)
    assert response.status_code == 400, response.text
    assert [d["field"] for d in error(response)["details"]] == ["reason"]
    assert (await get_loan(system, loan["loanId"]))["status"] == "PENDING_APPROVAL"
    assert await events(system, loan["loanId"]) == []


async def test_an_officer_rejects_a_pending_loan_with_a_reason(system):
    loan = await pending_loan(system, "reject")
    rejected = await act(
        system, loan["loanId"], "reject", {"reason": "Income not verified", "officerId": "off-9"}
    )
    assert rejected.status_code == 200, rejected.text
    assert data(rejected)["status"] == "REJECTED"
    application = (await get_loan(system, loan["loanId"]))["application"]
    assert application["applicationStatus"] == "REJECTED"
    assert application["rejectionReason"] == "Income not verified"
    assert application["reviewerId"] == "off-9"
    [event] = await events(system, loan["loanId"])
    assert event["event_type"] == "LOAN_REJECTED"
    assert event["event_data"]["previousStatus"] == "PENDING_APPROVAL"


async def test_a_pending_loan_can_be_cancelled(system):
    loan = await pending_loan(system, "cancel-pending")
    cancelled = await act(system, loan["loanId"], "cancel", {"reason": "no longer needed"})
    assert cancelled.status_code == 200, cancelled.text
    assert data(cancelled)["status"] == "CANCELLED"
    assert (await get_loan(system, loan["loanId"]))["application"][
        "applicationStatus"
    ] == "CANCELLED"
    [event] = await events(system, loan["loanId"])
    assert (event["event_type"], event["event_data"]["previousStatus"]) == (
        "LOAN_CANCELLED",
        "PENDING_APPROVAL",
    )


async def test_an_approved_loan_can_be_cancelled_before_disbursement(system):
    loan = await approved_loan(system, "cancel-approved")
    cancelled = await act(system, loan["loanId"], "cancel", {})
    assert cancelled.status_code == 200, cancelled.text
    assert data(cancelled)["status"] == "CANCELLED"
    kinds = [(e["event_type"], e["event_data"]["previousStatus"]) for e in await events(system)]
    assert kinds == [("LOAN_APPROVED", "PENDING_APPROVAL"), ("LOAN_CANCELLED", "APPROVED")]


# --- disburse --------------------------------------------------------------------------------


async def test_disbursing_an_approved_loan_makes_it_active(system):
    loan = await approved_loan(system, "disburse")
    disbursed = await act(system, loan["loanId"], "disburse")
    assert disbursed.status_code == 200, disbursed.text
    moved = data(disbursed)
    assert moved["status"] == "ACTIVE"
    assert moved["disbursementDate"].startswith(today().isoformat())
    assert moved["outstandingAmount"] == Decimal("12000.00")
    # Disbursement sends nothing to the customer service: the credit was used at approval.
    assert [e["event_type"] for e in await events(system, loan["loanId"])] == ["LOAN_APPROVED"]


async def test_a_disbursement_in_a_later_month_moves_the_due_dates_not_the_amounts(system):
    loan = await approved_loan(system, "later", applicationDate="2026-01-10", installmentCount=6)
    assert loan["firstInstallmentDate"] == "2026-02-01"
    disbursed = await act(system, loan["loanId"], "disburse", {"disbursementDate": "2026-03-20"})
    assert disbursed.status_code == 200, disbursed.text
    moved = data(disbursed)
    assert (moved["firstInstallmentDate"], moved["maturityDate"]) == ("2026-04-01", "2026-09-01")
    assert moved["lastInstallmentDate"] == "2026-09-01"
    assert moved["disbursementDate"].startswith("2026-03-20")
    after = (await schedule(system, loan["loanId"]))["installments"]
    assert [i["dueDate"] for i in after] == [
        "2026-04-01",
        "2026-05-01",
        "2026-06-01",
        "2026-07-01",
        "2026-08-01",
        "2026-09-01",
    ]
    amounts = ("principalAmount", "interestAmount", "totalAmount")
    assert [[i[k] for k in amounts] for i in after] == [
        [i[k] for k in amounts] for i in loan["installments"]
    ]
    assert moved["installmentAmount"] == loan["installmentAmount"]
    assert moved["totalRepaymentAmount"] == loan["totalRepaymentAmount"]


async def test_a_disbursement_in_the_application_month_keeps_the_due_dates(system):
    loan = await approved_loan(system, "same", applicationDate="2026-01-10", installmentCount=6)
    disbursed = await act(system, loan["loanId"], "disburse", {"disbursementDate": "2026-01-31"})
    assert data(disbursed)["firstInstallmentDate"] == "2026-02-01"
    after = (await schedule(system, loan["loanId"]))["installments"]
    assert [i["dueDate"] for i in after] == [i["dueDate"] for i in loan["installments"]]


@pytest.mark.parametrize(
    "when", [(today() + timedelta(days=1)).isoformat(), "2026-01-09", "not-a-date"]
)
async def test_a_disbursement_in_the_future_or_before_the_application_is_refused(system, when):
    loan = await approved_loan(system, "bad-date", applicationDate="2026-01-10")
    refused = await act(system, loan["loanId"], "disburse", {"disbursementDate": when})
    assert refused.status_code == 400, refused.text
    assert [d["field"] for d in error(refused)["details"]] == ["disbursementDate"]
    shown = await get_loan(system, loan["loanId"])
    assert (shown["status"], shown["version"]) == ("APPROVED", loan["version"])


# --- every other move ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "status",
    [
        "PENDING_APPROVAL",
        "APPROVED",
        "REJECTED",
        "CANCELLED",
        "ACTIVE",
        pytest.param("PAID_OFF", marks=PLAYS_THE_PAYMENT_SERVICE),
    ],
)
async def test_every_move_the_lifecycle_does_not_allow_is_an_invalid_loan_state(system, status):
    loan = await _loan_in(system, status)
    assert loan["status"] == status
    before = len(await events(system))
    for action in sorted(set(ACTIONS) - ALLOWED.get(status, set())):
        refused = await act(system, loan["loanId"], action, ACTIONS[action])
        assert refused.status_code == 422, (status, action, refused.text)
        refusal = error(refused)
        assert refusal["code"] == "INVALID_LOAN_STATE"
        assert refusal["currentStatus"] == status
        shown = await get_loan(system, loan["loanId"])
        assert (shown["status"], shown["version"]) == (status, loan["version"]), action
    assert len(await events(system)) == before


@pytest.mark.parametrize("action", sorted(ACTIONS))
async def test_moving_an_unknown_loan_is_404(system, action):
    response = await act(system, "LOAN-NOPE", action, ACTIONS[action])
    assert response.status_code == 404
    assert error(response)["code"] == "NOT_FOUND"
    assert await loan_val(system, "SELECT count(*) FROM data_sync_events") == 0
