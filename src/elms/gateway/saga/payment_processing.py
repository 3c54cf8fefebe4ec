"""PAYMENT_PROCESSING (architecture.md §4): CALCULATE → RECORD_PAYMENT → APPLY_TO_LOAN →
RESTORE_CREDIT → COMPLETE. APPLY_TO_LOAN is the pivot: before it succeeds a failure marks the
payment FAILED; after it the money is on the loan and the saga only moves forward.

The saga's data: `request` (the payment as the payment service validated it, its date fixed at
the start so a saga resumed the next day pays on the same date) and `paymentId` (made at the
start, so recording is idempotent by it as well as by its key)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from elms.gateway.saga.definition import SagaDefinition, Step, StepContext

SAGA_TYPE = "PAYMENT_PROCESSING"
PIVOT = "APPLY_TO_LOAN"


async def calculate(ctx: StepContext) -> dict[str, Any]:
    """What the payment would do on its date; refuses (422) what cannot be paid before anything
    is written."""
    request = ctx.data["request"]
    answer = await ctx.call(
        "payment",
        "POST",
        "/api/v1/payments/calculate",
        {
            "loanId": request["loanId"],
            "paymentAmount": request["paymentAmount"],
            "paymentDate": request["paymentDate"],
            "installmentNumbers": request.get("installmentNumbers"),
            "isPartialPayment": request.get("isPartialPayment", False),
        },
    )
    return {
        "calculation": answer["calculation"],
        "installmentBreakdown": answer["installmentBreakdown"],
        "unappliedAmount": answer["unappliedAmount"],
    }


async def record_payment(ctx: StepContext) -> dict[str, Any]:
    """The payment PENDING with its installment rows, priced against the loan as it is now."""
    return await ctx.call(
        "payment",
        "POST",
        "/internal/v1/payments",
        {**ctx.data["request"], "paymentId": ctx.data["paymentId"]},
    )


async def fail_payment(ctx: StepContext) -> dict[str, Any]:
    cause = (ctx.cause or {}).get("code", "a failure")
    return await ctx.call(
        "payment",
        "POST",
        f"/internal/v1/payments/{ctx.data['paymentId']}/fail",
        {"reason": f"Payment saga {ctx.saga_id} compensated after {cause}"},
    )


async def apply_to_loan(ctx: StepContext) -> dict[str, Any]:
    """The loan service applies the recorded allocation once per payment id, and refuses it
    (409 VERSION_CONFLICT) if the loan changed since it was priced."""
    recorded = ctx.results["RECORD_PAYMENT"]
    return await ctx.call(
        "loan",
        "POST",
        f"/internal/v1/loans/{recorded['loanId']}/payments",
        recorded["applyRequest"],
    )


async def restore_credit(ctx: StepContext) -> dict[str, Any]:
    """The principal repaid returns to the customer's available credit, once per payment."""
    recorded = ctx.results["RECORD_PAYMENT"]
    if recorded["principalPaid"] <= 0:
        return {"amount": recorded["principalPaid"], "restored": False}
    return await ctx.call(
        "customer",
        "POST",
        f"/internal/v1/customers/{recorded['customerId']}/credit/restore",
        {
            "amount": recorded["principalPaid"],
            "referenceId": recorded["paymentId"],
            "referenceType": "PAYMENT",
            "description": f"Principal repaid by payment {recorded['paymentId']}",
        },
    )


async def complete(ctx: StepContext) -> dict[str, Any]:
    """The payment COMPLETED. What the saga keeps is what changed: RECORD_PAYMENT holds the
    payment already, and one saga holds it once."""
    completed = await ctx.call(
        "payment", "POST", f"/internal/v1/payments/{ctx.data['paymentId']}/complete"
    )
    return {key: completed[key] for key in ("paymentId", "status", "processedAt")}


def final_result(saga_id: str, results: Mapping[str, Any]) -> dict[str, Any]:
    """The payment as api.md §4 answers it: recorded, applied, completed."""
    payment = {k: v for k, v in results["RECORD_PAYMENT"].items() if k != "applyRequest"}
    completed = results["COMPLETE"]
    payment.update(
        status=completed["status"],
        processedAt=completed["processedAt"],
        loanPaidOff=results["APPLY_TO_LOAN"]["loanPaidOff"],
        sagaId=saga_id,
    )
    return payment


PAYMENT_PROCESSING = SagaDefinition(
    saga_type=SAGA_TYPE,
    steps=(
        Step("CALCULATE", calculate),
        Step("RECORD_PAYMENT", record_payment, fail_payment),
        Step(PIVOT, apply_to_loan),
        Step("RESTORE_CREDIT", restore_credit),
        Step("COMPLETE", complete),
    ),
    final_result=final_result,
    pivot=PIVOT,
)
