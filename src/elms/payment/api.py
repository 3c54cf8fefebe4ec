"""Routes of the payment service (api.md §4): parse, call one service function, answer.

The public `POST /api/v1/payments` is the gateway's PAYMENT_PROCESSING saga; this service
serves the saga's steps under `/internal/v1/payments` (record, complete, fail)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Query
from starlette.responses import Response

from elms.core import envelope, idempotency
from elms.core.clock import utcnow
from elms.core.envelope import Envelope
from elms.core.errors import invalid
from elms.core.schemas import Day, Page
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
from elms.payment.allocation import payable
from elms.payment.domain import PaymentStatus
from elms.payment.responses import PaymentDetailsOut, PaymentRecordedOut, QuoteOut
from elms.payment.schemas import (
    CalculateRequest,
    FailPaymentRequest,
    PaymentOut,
    PaymentRequest,
    RecordPaymentRequest,
)

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
        caller.require_own(
            await service.loan_owner(call.services, call.settings, loan_id), "Loan", loan_id
        )


OWN_PAYMENT = Depends(_own_payment)
OWN_LOAN = Depends(_own_loan)


@payments.post("/calculate", response_model=Envelope[QuoteOut])
async def calculate(body: CalculateRequest, call: CallDep, caller: CallerDep) -> Response:
    # The loan must be the customer's own: checked on the loan the calculation reads.
    allocation, loan, on = await service.calculate(
        call.db, call.services, call.settings, body, utcnow(), caller
    )
    # Advice looks at the whole loan, whatever amount was offered.
    terms = loan.terms
    data = QuoteOut.of(allocation, loan, on, payable(loan.installments, on, terms), terms)
    return envelope.success(data, "Payment calculated")


@payments.get(
    "/{payment_id}", dependencies=[OWN_PAYMENT], response_model=Envelope[PaymentDetailsOut]
)
async def get_payment(payment_id: str, call: CallDep) -> Response:
    return envelope.success(
        PaymentDetailsOut.of(await service.get_payment(call.db, payment_id)), "Payment"
    )


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


@payments.get(
    "/customer/{customer_id}",
    dependencies=[OWN_CUSTOMER],
    response_model=Envelope[Page[PaymentOut]],
)
async def customer_payments(
    customer_id: str,
    call: CallDep,
    loan_id: Annotated[str | None, Query(alias="loanId", max_length=255)] = None,
    from_date: Annotated[Day | None, Query(alias="fromDate")] = None,
    to_date: Annotated[Day | None, Query(alias="toDate")] = None,
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


@payments.get("/loan/{loan_id}", dependencies=[OWN_LOAN], response_model=Envelope[Page[PaymentOut]])
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


@internal.post("/validate", response_model=Envelope[dict[str, Any]])
async def validate_payment(body: PaymentRequest) -> Response:
    """The gateway's check of a payment request before it starts a saga: 400 with every problem,
    or the request as the saga will send it. Its bank details come back masked, as they will be
    stored: the saga keeps the request in the gateway's schema (masking twice changes nothing)."""
    request = body.wire()
    request["bankDetails"] = domain.mask_bank_details(request.get("bankDetails"))
    return envelope.success(request, "Payment request is valid")


@internal.post("", status_code=201, response_model=Envelope[PaymentRecordedOut])
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
        return PaymentRecordedOut.recorded(view, allocation, loan, loan.terms)

    return await call.answer(work, "Payment recorded", 201)


@internal.post("/{payment_id}/complete", response_model=Envelope[PaymentDetailsOut])
async def complete_payment(payment_id: str, call: CallDep) -> Response:
    view = await service.complete_payment(call.db, payment_id, utcnow())
    return envelope.success(PaymentDetailsOut.of(view), "Payment completed")


@internal.post("/{payment_id}/fail", response_model=Envelope[PaymentDetailsOut])
async def fail_payment(payment_id: str, body: FailPaymentRequest, call: CallDep) -> Response:
    view = await service.fail_payment(call.db, payment_id, body.reason, utcnow())
    return envelope.success(PaymentDetailsOut.of(view), "Payment failed")
