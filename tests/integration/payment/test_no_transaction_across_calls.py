"""Recording a payment reads the loan from the loan service before any transaction opens
(issue 13): no session of the payment service sits "idle in transaction" while the loan service
takes its time, and the Idempotency-Key keeps its guarantees — a concurrent repeat records once
and replays, a repeat of an answered key replays whatever the loan service says now (or whether
it answers at all), and a read that failed leaves no claim behind."""

from __future__ import annotations

import asyncio

import pytest

from tests.integration.payment.helpers import (
    borrower_with_loan,
    calculate,
    counts,
    data,
    error,
    get_loan,
    record,
    settle,
    val,
)
from tests.support.held import held_service, open_transactions, routed, watch_calls


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, bool]]:
    return watch_calls(monkeypatch)


async def test_no_transaction_is_open_while_the_loan_service_is_asked(system, calls):
    loan = await borrower_with_loan(system, "heldread")
    key = {"Idempotency-Key": "held-read-1"}
    async with held_service(system.loan.url) as held:
        with routed(system.payment.app, "loan", held.url):
            first = asyncio.create_task(record(system, loan["loanId"], "2000.00", headers=key))
            assert await held.reached() == f"GET /api/v1/loans/{loan['loanId']}"
            assert await open_transactions(system.database.admin_url) == []

            # A repeat with the same key while the first waits: it reads the loan too, and
            # holds nothing while it does.
            second = asyncio.create_task(record(system, loan["loanId"], "2000.00", headers=key))
            await held.reached()
            assert await open_transactions(system.database.admin_url) == []

            held.release.set()
            answers = await asyncio.gather(first, second)

    assert [a.status_code for a in answers] == [201, 201], [a.text for a in answers]
    # The payment was recorded once; the request that came second to the key replays it.
    assert sorted(a.headers.get("Idempotent-Replayed", "") for a in answers) == ["", "true"]
    assert data(answers[0]) == data(answers[1])
    assert (await counts(system))["payments"] == 1
    payment_calls = [c for c in calls if c[1].startswith("GET /api/v1/loans/")]
    assert len(payment_calls) == 2
    assert not [c for c in calls if c[2]], "a call made inside a transaction"


async def test_an_answered_key_replays_its_payment_while_the_loan_service_is_down(system):
    loan = await borrower_with_loan(system, "replaydown")
    key = {"Idempotency-Key": "replay-down-1"}
    first = await record(system, loan["loanId"], "2000.00", headers=key)
    assert first.status_code == 201, first.text

    await system.stop("loan")
    again = await record(system, loan["loanId"], "2000.00", headers=key)
    assert again.status_code == 201, again.text
    assert again.headers["Idempotent-Replayed"] == "true"
    assert data(again) == data(first)

    # Another key needs the loan: unavailable, and nothing is left claimed for it.
    other = {"Idempotency-Key": "replay-down-2"}
    refused = await record(system, loan["loanId"], "2500.00", headers=other)
    assert refused.status_code == 503, refused.text
    assert error(refused)["code"] == "SERVICE_UNAVAILABLE"
    assert await val(system, "SELECT count(*) FROM idempotency_keys") == 1

    await system.start("loan")
    retried = await record(system, loan["loanId"], "2500.00", headers=other)
    assert retried.status_code == 201, retried.text
    assert "Idempotent-Replayed" not in retried.headers
    assert (await counts(system))["payments"] == 2


async def test_an_answered_key_replays_its_payment_whatever_the_loan_is_now(system):
    """A saga's RECORD_PAYMENT run again after its payment reached the loan: the loan read before
    the claim has changed (installment 1 is paid), yet the key replays the first payment."""
    loan = await borrower_with_loan(system, "replaystate")
    offer = data(await calculate(system, loan["loanId"]))["installmentBreakdown"][0]["amountToPay"]
    key = {"Idempotency-Key": "replay-state-1"}
    first = await record(system, loan["loanId"], str(offer), headers=key)
    assert first.status_code == 201, first.text
    await settle(system, data(first))
    assert (await get_loan(system, loan["loanId"]))["installments"][0]["status"] == "PAID"

    again = await record(system, loan["loanId"], str(offer), headers=key)
    assert again.status_code == 201, again.text
    assert again.headers["Idempotent-Replayed"] == "true"
    assert data(again) == data(first)
    assert (await counts(system))["payments"] == 1

    # A read that refuses leaves no claim: the key of a request for no loan is free again.
    missing = {"loanId": "LOAN-NOT-THERE", "paymentAmount": "10.00", "paymentMethod": "CASH"}
    gone = await system.payment.client.post(
        "/internal/v1/payments", json=missing, headers={"Idempotency-Key": "replay-state-2"}
    )
    assert gone.status_code == 404, gone.text
    assert await val(system, "SELECT count(*) FROM idempotency_keys") == 1
