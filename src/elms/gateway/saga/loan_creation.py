"""LOAN_CREATION (architecture.md §4): VALIDATE_CUSTOMER → RESERVE_CREDIT → CREATE_LOAN →
GENERATE_INSTALLMENTS. A refusal up to CREATE_LOAN leaves nothing behind (the reservation is
released); once the loan exists (the pivot) the saga only goes forward.

The saga's data: `request` (the loan request as the loan service validated it),
`applicationId` (given or made at the start, so the reservation and the loan name the same
application), `reservationTimeout` (seconds the credit is held for an officer's decision).

Each step keeps what the later steps and the saga's view need, once: CREATE_LOAN the loan's
names and terms (`LOAN_KEPT`), not its schedule and underwriting record, which the loan service
keeps; GENERATE_INSTALLMENTS the totals it checked. The answer to `POST /api/v1/loans` reads the
whole loan from the loan service (`whole_loan`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from elms.gateway.saga.definition import (
    Caller,
    SagaDefinition,
    Step,
    StepContext,
    StepRefused,
    refusal,
)

SAGA_TYPE = "LOAN_CREATION"
# What the saga keeps of the loan it created (GENERATE_INSTALLMENTS checks the counts and totals).
LOAN_KEPT = (
    "loanId",
    "applicationId",
    "customerId",
    "status",
    "loanType",
    "loanAmount",
    "interestRate",
    "interestMethod",
    "installmentCount",
    "installmentAmount",
    "totalRepaymentAmount",
    "firstInstallmentDate",
    "maturityDate",
)


def _customer_path(ctx: StepContext, rest: str = "") -> str:
    return f"/api/v1/customers/{ctx.data['request']['customerId']}{rest}"


async def validate_customer(ctx: StepContext) -> dict[str, Any]:
    """The customer exists and is ACTIVE; what underwriting needs of them is kept."""
    customer = await ctx.call("customer", "GET", _customer_path(ctx))
    if customer["accountStatus"] != "ACTIVE":
        raise refusal(
            "CUSTOMER_NOT_ACTIVE",
            f"Customer account is {customer['accountStatus']}, not ACTIVE",
        )
    return {
        "accountStatus": customer["accountStatus"],
        "kycStatus": customer["kycStatus"],
        "creditScore": customer.get("creditScore"),
        "riskLevel": customer["riskLevel"],
        "annualIncome": customer.get("annualIncome"),
        "availableCredit": customer["availableCredit"],
    }


async def reserve_credit(ctx: StepContext) -> dict[str, Any]:
    """Hold the loan amount for this application; the customer service refuses more than the
    available credit (422 INSUFFICIENT_CREDIT), atomically per customer."""
    request = ctx.data["request"]
    return await ctx.call(
        "customer",
        "POST",
        _customer_path(ctx, "/credit/reserve"),
        {
            "amount": request["loanAmount"],
            "purpose": f"{request['loanType']} loan application",
            "loanApplicationId": ctx.data["applicationId"],
            "reservationTimeout": ctx.data["reservationTimeout"],
            "notes": f"Saga {ctx.saga_id}",
        },
    )


async def release_credit(ctx: StepContext) -> dict[str, Any]:
    reservation = ctx.results["RESERVE_CREDIT"]
    try:
        return await ctx.call(
            "customer",
            "POST",
            _customer_path(ctx, "/credit/release"),
            {
                "reservationId": reservation["reservationId"],
                "reason": f"Loan application saga {ctx.saga_id} compensated",
            },
        )
    except StepRefused as refused:
        # Released, expired, or consumed and then returned by the loan's cancellation (its
        # outbox event): nothing is held for this application any more.
        if refused.code == "RESERVATION_NOT_ACTIVE":
            return {"reservationId": reservation["reservationId"], "alreadyClosed": True}
        raise


async def create_loan(ctx: StepContext) -> dict[str, Any]:
    """The application, the loan and its schedule, stored together by the loan service, which
    decides the underwriting. The applicant is what VALIDATE_CUSTOMER saw, with the credit that
    was available when it was reserved."""
    applicant = dict(ctx.results["VALIDATE_CUSTOMER"])
    applicant["availableCredit"] = ctx.results["RESERVE_CREDIT"]["availableCreditBefore"]
    loan = await ctx.call(
        "loan",
        "POST",
        "/internal/v1/loans",
        {
            **ctx.data["request"],
            "applicationId": ctx.data["applicationId"],
            "sagaId": ctx.saga_id,
            "applicant": applicant,
        },
    )
    return {name: loan[name] for name in LOAN_KEPT}


async def generate_installments(ctx: StepContext) -> dict[str, Any]:
    """The loan service writes the schedule with the loan, in one transaction, so a loan never
    exists without one (docs/decisions.md). This step confirms the schedule it stored is whole
    and reconciles to the cent with the loan's totals before the saga reports success."""
    loan = ctx.results["CREATE_LOAN"]
    schedule = await ctx.call("loan", "GET", f"/api/v1/loans/{loan['loanId']}/installments")
    summary = schedule["summary"]
    expected = (loan["installmentCount"], loan["loanAmount"], loan["totalRepaymentAmount"])
    found = (schedule["totalInstallments"], summary["totalPrincipal"], summary["totalAmount"])
    if found != expected:
        raise refusal(
            "SCHEDULE_MISMATCH",
            f"Loan {loan['loanId']}'s schedule (installments, principal, total) is {found},"
            f" not {expected}",
        )
    return {
        "totalInstallments": schedule["totalInstallments"],
        "totalPrincipal": summary["totalPrincipal"],
        "totalInterest": summary["totalInterest"],
        "totalAmount": summary["totalAmount"],
    }


def final_result(saga_id: str, results: Mapping[str, Any]) -> dict[str, Any]:
    """The loan as the saga created it: its names and terms, and its saga."""
    return {**results["CREATE_LOAN"], "sagaId": saga_id}


async def whole_loan(created: Mapping[str, Any], call: Caller) -> Any:
    """What `POST /api/v1/loans` answers: the loan with its schedule and its underwriting, as the
    loan service has it."""
    return await call("loan", "GET", f"/api/v1/loans/{created['loanId']}")


LOAN_CREATION = SagaDefinition(
    saga_type=SAGA_TYPE,
    steps=(
        Step("VALIDATE_CUSTOMER", validate_customer),
        Step("RESERVE_CREDIT", reserve_credit, release_credit),
        Step("CREATE_LOAN", create_loan),
        Step("GENERATE_INSTALLMENTS", generate_installments),
    ),
    final_result=final_result,
    answer=whole_loan,
    # Once the loan exists its underwriting is decided, and an automatic approval is already on
    # its way to the customer's credit: a check that cannot reach the loan service for a while
    # is no reason to cancel it. After CREATE_LOAN the saga only goes forward.
    pivot="CREATE_LOAN",
)
