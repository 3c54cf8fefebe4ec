"""Routes of the payment service (api.md §4): parse, call one service function, answer.

The public `POST /api/v1/payments` is the gateway's PAYMENT_PROCESSING saga; this service
serves the saga's steps under `/internal/v1/payments` (record, complete, fail)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from fastapi import Depends, Query
from starlette.responses import Response

from elms.core import envelope, idempotency
from elms.core.clock import utcnow
from elms.core.errors import invalid
from elms.core.money import ZERO
from elms.core.schemas import Page
from elms.core.web import (
    OWN_CUSTOMER,
    SERVICES_ONLY,
    CallDep,
    CallerDep,
    PageNumber,
    PageSize,
    router,
)
from elms.payment import domain, service
from elms.payment.allocation import Allocation, payable, payment_window, quote
from elms.payment.domain import PaymentStatus
from elms.payment.schemas import (
    CalculateRequest,
    FailPaymentRequest,
    PaymentInstallmentOut,
    PaymentOut,
    PaymentRequest,
    RecordPaymentRequest,
)
from elms.payment.service import LoanSnapshot, PaymentView

# Who may do what (architecture.md §3), declared on each route: a customer reaches only their own
# payments, and those of their own loans; the internal routes (the saga's steps) serve ELMS's own
# services. A service's call (no role) is never restricted.
payments = router("/api/v1/payments", tags=["payments"])
internal = router(
    "/internal/v1/payments",
    tags=["internal"],
    include_in_schema=False,
    dependencies=[SERVICES_ONLY],
)


async def _own_payment(payment_id: str, caller: CallerDep, call: CallDep) -> None:
    if caller.is_customer:
        caller.require_own(await service.payment_owner(call.db, payment_id), "Payment", payment_id)


async def _own_loan(loan_id: str, caller: CallerDep, call: CallDep) -> None:
    """Whose loan it is, the loan service says (a loan with no payment yet is still theirs)."""
    if caller.is_customer:
        caller.require_own(await service.loan_owner(call.services, loan_id), "Loan", loan_id)


OWN_PAYMENT = Depends(_own_payment)
OWN_LOAN = Depends(_own_loan)


def _calculation(allocation: Allocation, call: Any) -> dict[str, Any]:
    rates = service.terms(call.settings)
    rows = allocation.rows
    return {
        "baseAmount": allocation.base_amount,
        "discountAmount": allocation.discount_amount,
        "penaltyAmount": allocation.penalty_amount,
        "finalAmount": allocation.final_amount,
        "earlyPaymentDays": max((r.early_days for r in rows), default=0),
        "latePaymentDays": max((r.late_days for r in rows), default=0),
        "discountRate": rates.discount_rate_per_day.quantize(Decimal("0.000001")),
        "penaltyRate": rates.penalty_rate_per_day.quantize(Decimal("0.000001")),
    }


def _payment(view: PaymentView) -> dict[str, Any]:
    data = PaymentOut.model_validate(view.payment, from_attributes=True).wire()
    rows = view.installments
    principal = sum((r.principal_paid for r in rows), ZERO)
    offered = view.payment.offered_amount
    before = view.payment.outstanding_before
    data.update(
        installmentPayments=[
            PaymentInstallmentOut.model_validate(r, from_attributes=True).wire() for r in rows
        ],
        installmentsPaid=sum(1 for r in rows if r.remaining_amount == ZERO),
        unappliedAmount=(offered - view.payment.payment_amount) if offered is not None else ZERO,
        principalPaid=principal,
        outstandingPrincipalAfter=(before - principal) if before is not None else None,
    )
    return data


def _recorded(
    view: PaymentView, allocation: Allocation, loan: LoanSnapshot, call: Any
) -> dict[str, Any]:
    data = _payment(view)
    paid_now = {r.number for r in allocation.rows if r.fully_paid}
    open_numbers = {i.number for i in loan.installments if i.status != "PAID"}
    principal = sum((r.principal_paid for r in allocation.rows), ZERO)
    interest = sum((r.interest_paid for r in allocation.rows), ZERO)
    after_principal = loan.outstanding_amount - principal
    after_interest = loan.outstanding_interest - interest
    data.update(
        calculation=_calculation(allocation, call),
        loanPaidOff=open_numbers <= paid_now,
        balanceAfterPayment={
            "outstandingPrincipal": after_principal,
            "outstandingInterest": after_interest,
            "totalOutstanding": after_principal + after_interest,
        },
        # What the saga's APPLY_TO_LOAN step sends to the loan service.
        applyRequest={
            "paymentId": view.payment.payment_id,
            "expectedVersion": loan.version,
            "paidAt": view.payment.payment_date,
            "installments": [
                {
                    "installmentNumber": r.number,
                    "principalPaid": r.principal_paid,
                    "interestPaid": r.interest_paid,
                    "penaltyPaid": r.penalty_paid,
                    "discountApplied": r.discount_applied,
                }
                for r in allocation.rows
            ],
        },
    )
    return data


@payments.post("/calculate")
async def calculate(body: CalculateRequest, call: CallDep, caller: CallerDep) -> Response:
    # The loan must be the customer's own: checked on the loan the calculation reads.
    allocation, loan, on = await service.calculate(
        call.db, call.services, call.settings, body, utcnow(), caller
    )
    rows = allocation.rows
    rates = service.terms(call.settings)
    # Advice looks at the whole loan, whatever amount was offered: what settles everything due
    # by the date (or, with nothing due, the next installment), and the discount that paying
    # every payable installment now would earn.
    open_now = payable(loan.installments, on, rates)
    due_now = [i for i in open_now if i.due_date <= on] or open_now[:1]
    window = payment_window(rows[0].due_date, service.terms(call.settings))
    data = {
        "loanId": loan.loan_id,
        "paymentDate": on,
        "calculation": _calculation(allocation, call),
        "installmentBreakdown": [
            {
                "installmentNumber": r.number,
                "dueDate": r.due_date,
                "originalAmount": r.original_amount,
                "discountApplied": r.discount_applied,
                "penaltyApplied": r.penalty_paid,
                "amountToPay": r.paid,
                "principalPortion": r.principal_paid,
                "interestPortion": r.interest_paid,
            }
            for r in rows
        ],
        "unappliedAmount": allocation.unapplied,
        "paymentAdvice": {
            "recommendedAmount": sum((quote(i, on, rates).amount_due for i in due_now), ZERO),
            "savingsOpportunity": sum((quote(i, on, rates).discount for i in open_now), ZERO),
            "paymentWindow": {
                "earlyPaymentUntil": window.early_payment_until,
                "gracePeriodUntil": window.grace_period_until,
                "penaltyStartsFrom": window.penalty_starts_from,
            },
        },
    }
    return envelope.success(data, "Payment calculated")


@payments.get("/{payment_id}", dependencies=[OWN_PAYMENT])
async def get_payment(payment_id: str, call: CallDep) -> Response:
    return envelope.success(_payment(await service.get_payment(call.db, payment_id)), "Payment")


async def _list(call: Any, page: int, size: int, message: str, **filters: Any) -> Response:
    if (
        filters.get("from_date")
        and filters.get("to_date")
        and filters["from_date"] > filters["to_date"]
    ):
        raise invalid("fromDate", "fromDate must not be after toDate", str(filters["from_date"]))
    found, total = await service.list_payments(call.db, page=page, size=size, **filters)
    items = [PaymentOut.model_validate(p, from_attributes=True).wire() for p in found]
    return envelope.success(Page[dict].of(items, page, size, total).wire(), message)


@payments.get("/customer/{customer_id}", dependencies=[OWN_CUSTOMER])
async def customer_payments(
    customer_id: str,
    call: CallDep,
    loan_id: Annotated[str | None, Query(alias="loanId", max_length=255)] = None,
    from_date: Annotated[date | None, Query(alias="fromDate")] = None,
    to_date: Annotated[date | None, Query(alias="toDate")] = None,
    status: PaymentStatus | None = None,
    page: PageNumber = 0,
    size: PageSize = 20,
) -> Response:
    return await _list(
        call,
        page,
        size,
        "Customer payments",
        customer_id=customer_id,
        loan_id=loan_id,
        from_date=from_date,
        to_date=to_date,
        status=status,
    )


@payments.get("/loan/{loan_id}", dependencies=[OWN_LOAN])
async def loan_payments(
    loan_id: str,
    call: CallDep,
    caller: CallerDep,
    status: PaymentStatus | None = None,
    page: PageNumber = 0,
    size: PageSize = 20,
) -> Response:
    # The customer's own loan, and of its payments only theirs: never anyone else's rows.
    return await _list(
        call,
        page,
        size,
        "Loan payments",
        loan_id=loan_id,
        customer_id=caller.customer_id,
        status=status,
    )


@internal.post("/validate")
async def validate_payment(body: PaymentRequest) -> Response:
    """The gateway's check of a payment request before it starts a saga: 400 with every problem,
    or the request as the saga will send it. Its bank details come back masked, as they will be
    stored: the saga keeps the request in the gateway's schema (masking twice changes nothing)."""
    request = body.wire()
    request["bankDetails"] = domain.mask_bank_details(request.get("bankDetails"))
    return envelope.success(request, "Payment request is valid")


@internal.post("", status_code=201)
async def record_payment(body: RecordPaymentRequest, call: CallDep) -> Response:
    now = utcnow()
    # The loan is read before the Idempotency-Key is claimed, so no transaction is open while
    # the loan service answers; a read that failed is raised inside the work, so a key already
    # answered replays its payment whatever the loan is now.
    plan = await idempotency.read_first(
        lambda: service.plan_payment(call.services, call.settings, body, now)
    )

    async def work() -> dict[str, Any]:
        view, allocation, loan = await service.record_payment(call.db, body, plan.get(), now)
        return _recorded(view, allocation, loan, call)

    return await call.answer(work, "Payment recorded", 201)


@internal.post("/{payment_id}/complete")
async def complete_payment(payment_id: str, call: CallDep) -> Response:
    view = await service.complete_payment(call.db, payment_id, utcnow())
    return envelope.success(_payment(view), "Payment completed")


@internal.post("/{payment_id}/fail")
async def fail_payment(payment_id: str, body: FailPaymentRequest, call: CallDep) -> Response:
    view = await service.fail_payment(call.db, payment_id, body.reason, utcnow())
    return envelope.success(_payment(view), "Payment failed")
