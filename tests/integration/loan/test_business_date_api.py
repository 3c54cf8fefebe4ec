"""The business date in manual mode, at the loan service that owns it: moved forward only, by an
administrator (or an operator's own call), closing each day on the way; refused with its code
while a close runs or for a date not ahead; and the date every answer then carries."""

from __future__ import annotations

from datetime import timedelta

import pytest

from elms.core.business_day import calendar_date
from elms.core.clock import utcnow
from tests.conftest import running
from tests.integration.loan.helpers import data, error

BUSINESS_DATE = "/api/v1/operations/business-date"
ADMIN = {"x-elms-user": "admin-1", "x-elms-role": "ADMIN"}


@pytest.fixture
async def loan_service(database):
    settings = database.settings.model_copy(update={"business_date_mode": "manual"})
    async with running("loan", settings, database.dsn("loan")) as service:
        yield service


async def test_the_date_moves_forward_closing_each_day(loan_service):
    today = calendar_date()
    shown = data(await loan_service.client.get(BUSINESS_DATE))
    assert (shown["businessDate"], shown["mode"], shown["lastCloseOfBusiness"]) == (
        today.isoformat(),
        "manual",
        None,
    )
    target = today + timedelta(days=3)
    moved = await loan_service.client.post(
        BUSINESS_DATE, json={"date": target.isoformat()}, headers=ADMIN
    )
    assert moved.status_code == 200, moved.text
    assert data(moved)["businessDate"] == target.isoformat()
    assert data(moved)["lastCloseOfBusiness"]["date"] == (target - timedelta(1)).isoformat()
    # Every answer now says the new date.
    assert moved.json()["metadata"]["businessDate"] == target.isoformat()
    assert moved.headers["x-elms-business-date"] == target.isoformat()
    runs = data(await loan_service.client.get("/api/v1/operations/cob-runs"))
    assert [(r["date"], r["status"], r["triggeredBy"]) for r in runs["content"]] == [
        ((target - timedelta(days=n)).isoformat(), "COMPLETED", "cob-runner") for n in (1, 2, 3)
    ]
    # A loan applied for now is dated on the business date, not the machine's.
    preview = await loan_service.client.post(
        "/api/v1/loans/preview",
        json={"loanAmount": "1200.00", "interestRate": "0.12", "installmentCount": 6},
    )
    assert preview.status_code == 200, preview.text
    first_due = (target.replace(day=1) + timedelta(days=32)).replace(day=1)
    assert data(preview)["firstInstallmentDate"] == first_due.isoformat()


async def test_the_date_never_moves_back_nor_while_a_close_runs(loan_service):
    today = calendar_date()
    for day in (today, today - timedelta(days=1)):
        refused = await loan_service.client.post(
            BUSINESS_DATE, json={"date": day.isoformat()}, headers=ADMIN
        )
        assert (refused.status_code, error(refused)["code"]) == (422, "BUSINESS_DATE_NOT_FORWARD")
        assert error(refused)["details"][0]["rejectedValue"] == day.isoformat()
    too_far = await loan_service.client.post(
        BUSINESS_DATE, json={"date": (today + timedelta(days=367)).isoformat()}, headers=ADMIN
    )
    assert (too_far.status_code, error(too_far)["code"]) == (422, "BUSINESS_DATE_TOO_FAR")

    # A close under way (as one left by a crash, before the runner takes it up again).
    async with loan_service.app.state.db.transaction() as conn:
        await conn.execute(
            "INSERT INTO cob_runs (run_id, business_date, status, triggered_by, started_at)"
            " VALUES ('COB-UNDER-WAY', $1, 'RUNNING', 'test', $2)",
            today,
            utcnow(),
        )
    busy = await loan_service.client.post(
        BUSINESS_DATE, json={"date": (today + timedelta(days=1)).isoformat()}, headers=ADMIN
    )
    assert (busy.status_code, error(busy)["code"]) == (409, "COB_RUNNING")
    assert error(busy)["run"]["runId"] == "COB-UNDER-WAY"
    assert data(await loan_service.client.get(BUSINESS_DATE))["businessDate"] == str(today)

    customer = {"x-elms-user": "c-1", "x-elms-role": "CUSTOMER", "x-elms-customer": "CUST-1"}
    runs = await loan_service.client.get("/api/v1/operations/cob-runs", headers=customer)
    assert (runs.status_code, error(runs)["code"]) == (403, "FORBIDDEN")

    officer = {"x-elms-user": "officer-1", "x-elms-role": "LOAN_OFFICER"}
    forbidden = await loan_service.client.post(
        BUSINESS_DATE, json={"date": (today + timedelta(days=1)).isoformat()}, headers=officer
    )
    assert (forbidden.status_code, error(forbidden)["code"]) == (403, "FORBIDDEN")

    # Once the close is over, the date moves.
    async with loan_service.app.state.db.transaction() as conn:
        await conn.execute(
            "UPDATE cob_runs SET status = 'COMPLETED', finished_at = started_at"
            " WHERE run_id = 'COB-UNDER-WAY'"
        )
    moved = await loan_service.client.post(
        BUSINESS_DATE, json={"date": (today + timedelta(days=1)).isoformat()}, headers=ADMIN
    )
    assert moved.status_code == 200, moved.text
    assert data(moved)["businessDate"] == (today + timedelta(days=1)).isoformat()
