"""A saga's state holds each step's result once, and only what later steps and its view need
(issue 14: a LOAN_CREATION state was ~15 KB, the whole loan in it twice). The answers to the
client are whole all the same."""

from __future__ import annotations

from typing import Any

from elms.core import jsoncodec
from elms.gateway.saga.loan_creation import LOAN_KEPT
from tests.integration.saga.helpers import (
    STATES,
    active_loan,
    apply_for_loan,
    books_balance,
    customer,
    data,
    first_installment_due,
    pay,
)


async def _stored(gateway: Any, saga_id: str) -> tuple[str, dict[str, Any]]:
    """The saga's row as stored (its JSON columns as text), and its steps' results by name."""
    async with gateway.app.state.db.connection() as conn:
        row = await conn.fetchrow(
            "SELECT saga_data::text AS data, completed_steps::text AS steps,"
            " compensation_data::text AS compensations FROM saga_states WHERE saga_id = $1",
            saga_id,
        )
    steps = jsoncodec.loads(row["steps"])
    return "".join(row.values()), {s["stepName"]: s["result"] for s in steps}


async def test_a_loan_creation_keeps_the_loans_terms_once_and_not_its_schedule(
    system, gateway, database
):
    person = await customer(system, "small-saga")

    response = await apply_for_loan(gateway, person["customerId"], installmentCount=24)

    assert response.status_code == 201, response.text
    loan = data(response)
    stored, results = await _stored(gateway, loan["sagaId"])
    assert len(stored.encode()) < 4096
    assert set(results["CREATE_LOAN"]) == set(LOAN_KEPT)
    assert set(results["GENERATE_INSTALLMENTS"]) == {
        "totalInstallments",
        "totalPrincipal",
        "totalInterest",
        "totalAmount",
    }
    assert "installments" not in stored and "approvalConditions" not in stored
    assert stored.count(loan["loanId"]) == 1
    view = await gateway.client.get(f"{STATES}/{loan['sagaId']}")
    assert len(view.content) < 4096
    assert data(view)["finalResult"] == {**results["CREATE_LOAN"], "sagaId": loan["sagaId"]}
    # The client's answer is the whole loan still, as the loan service has it.
    assert len(loan["installments"]) == 24
    assert loan["application"]["approvalConditions"]["automatic"] is True
    assert {k: loan[k] for k in LOAN_KEPT} == results["CREATE_LOAN"]
    await books_balance(system, database)


async def test_a_payment_is_kept_once_though_two_steps_answer_with_it(system, gateway, database):
    loan = await active_loan(system, gateway, "small-pay")

    response = await pay(
        gateway, loan["loanId"], await first_installment_due(gateway, loan["loanId"])
    )

    assert response.status_code == 201, response.text
    payment = data(response)
    stored, results = await _stored(gateway, payment["sagaId"])
    assert results["COMPLETE"] == {
        "paymentId": payment["paymentId"],
        "status": "COMPLETED",
        "processedAt": payment["processedAt"],
    }
    assert stored.count('"installmentPayments"') == 1
    assert payment["status"] == "COMPLETED"
    assert [i["installmentNumber"] for i in payment["installmentPayments"]] == [1]
    await books_balance(system, database)
