"""Loan use cases: one function per command or query, one transaction each.

Every change of a loan locks its row first (`lock_loan`), asks the pure rules, and writes the
loan, its installments, its application and its outbox events in that one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

import asyncpg

from elms.core import jsoncodec, outbox
from elms.core.business_day import today
from elms.core.clock import as_naive_utc
from elms.core.config import Settings
from elms.core.database import Database
from elms.core.errors import (
    DomainError,
    FieldProblem,
    business_rule,
    conflict,
    invalid,
    not_found,
)
from elms.core.idempotency import ReadFirst
from elms.core.ids import new_id
from elms.core.money import MAX_AMOUNT, ZERO
from elms.core.payoff import PayoffQuote, quote_payoff
from elms.core.service_client import ServiceClient, ServiceUnavailable
from elms.loan import domain, product_service, products, underwriting
from elms.loan import repository as repo
from elms.loan.domain import Installment, InstallmentPayment, LoanAction, LoanStatus, LoanType
from elms.loan.products import AllocationOrder, Product
from elms.loan.repository import Application, Loan, PaymentTotals
from elms.loan.schedule import InterestMethod, Schedule, build_schedule, due_dates
from elms.loan.schemas import (
    PRODUCT,
    ApplicantSnapshot,
    ApplyPaymentRequest,
    ApproveRequest,
    CancelRequest,
    DisburseRequest,
    RejectRequest,
    SagaLoanRequest,
    ScheduleRequest,
    WaivePenaltyRequest,
)

SERVICE = "loan"


@dataclass(frozen=True)
class LoanView:
    loan: Loan
    application: Application | None
    installments: list[Installment]
    product: Product
    payments: PaymentTotals | None = None


def preview(request: ScheduleRequest, product: Product, today: date) -> Schedule:
    """The schedule of a request under its product: 400 naming every field outside the
    product's ranges (and the range), or a total beyond what the loans table holds."""
    method = request.interest_method or product.default_interest_method
    found = products.request_problems(
        product, request.loan_amount, request.interest_rate, request.installment_count, method
    )
    if found:
        raise DomainError(
            found[0].message if len(found) == 1 else "The request is outside its product",
            code="VALIDATION_ERROR",
            status=400,
            details=found,
        )
    start = request.requested_disbursement_date or request.application_date or today
    schedule = build_schedule(
        request.loan_amount,
        request.interest_rate,
        request.installment_count,
        InterestMethod(method),
        start,
    )
    if schedule.total_repayment > MAX_AMOUNT:
        raise invalid(
            "loanAmount",
            f"the total repayment {schedule.total_repayment} would exceed {MAX_AMOUNT}",
            request.loan_amount,
        )
    return schedule


async def product_for(db: Database, request: ScheduleRequest) -> Product:
    """The product a request is made under (named, or its loan type's), if it is offered: the
    one its route already found to judge the body (`PRODUCT`), else read now."""
    found = PRODUCT.get()
    if found is not None and (found.code, found.loan_type) == (
        request.product_code or request.loan_type,
        request.loan_type,
    ):
        return found
    return (await product_service.offered(db, request.product_code, request.loan_type)).product


async def product_named(db: Database, raw_body: bytes) -> Product | None:
    """The product a request's body names, read before the body is validated (None when the
    body does not name one that is offered: the validated request is refused for that later)."""
    try:
        body = jsoncodec.loads(raw_body)
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    code, loan_type = body.get("productCode"), body.get("loanType", LoanType.PERSONAL)
    if not isinstance(loan_type, str) or loan_type not in set(LoanType):
        return None
    if code is not None and not isinstance(code, str):
        return None
    try:
        return (await product_service.offered(db, code, loan_type)).product
    except DomainError:
        return None


# --- creation -------------------------------------------------------------------------------


async def read_applicant(services: ServiceClient, request: SagaLoanRequest) -> ApplicantSnapshot:
    """The customer as the loan service may judge it: the saga's snapshot, or the customer
    service's answer (never customer_db). Credit the customer already reserved for this very
    application counts as available to it. Read before `create_loan`'s transaction (and before
    an Idempotency-Key is claimed), never inside it."""
    application_id = request.application_id
    if request.applicant is not None:
        return request.applicant
    found = await services.call("customer", "GET", f"/api/v1/customers/{request.customer_id}")
    if found.status == 404:
        raise not_found("Customer", request.customer_id)
    if not found.ok:
        raise ServiceUnavailable(f"customer service answered {found.status}")
    customer = found.data
    reserved = await services.call(
        "customer",
        "GET",
        f"/api/v1/customers/{request.customer_id}/credit/reservations",
        params={"status": "ACTIVE", "size": 100},
    )
    held = sum(
        (
            Decimal(str(r["reservedAmount"]))
            for r in (reserved.data or {}).get("content", [])
            # A new application (no id given yet) has nothing reserved for it.
            if application_id is not None and r.get("loanApplicationId") == application_id
        ),
        ZERO,
    )
    return ApplicantSnapshot(
        account_status=customer["accountStatus"],
        kyc_status=customer["kycStatus"],
        credit_score=customer.get("creditScore"),
        risk_level=customer["riskLevel"],
        annual_income=customer.get("annualIncome"),
        available_credit=Decimal(str(customer["availableCredit"])) + held,
    )


def _check_applicant(applicant: ApplicantSnapshot, amount: Decimal) -> None:
    if applicant.account_status != "ACTIVE":
        raise business_rule(
            f"Customer account is {applicant.account_status}, not ACTIVE", "CUSTOMER_NOT_ACTIVE"
        )
    if amount > applicant.available_credit:
        raise business_rule(
            f"Loan amount {amount} exceeds available credit {applicant.available_credit}",
            "INSUFFICIENT_CREDIT",
            availableCredit=applicant.available_credit,
            requestedAmount=amount,
        )


def _loan_event(kind: str, loan: Loan, previous_status: str) -> dict[str, Any]:
    return {
        "loanId": loan.loan_id,
        "applicationId": loan.application_id,
        "customerId": loan.customer_id,
        "loanAmount": loan.loan_amount,
        "previousStatus": previous_status,
        "event": kind,
    }


async def _emit(
    conn: asyncpg.Connection, kind: str, loan: Loan, previous: str, now: datetime
) -> None:
    await outbox.enqueue(
        conn,
        event_type=kind,
        source=SERVICE,
        target="customer",
        entity_type="LOAN",
        entity_id=loan.loan_id,
        data=_loan_event(kind, loan, previous),
        now=now,
    )


async def create_loan(
    db: Database,
    settings: Settings,
    request: SagaLoanRequest,
    now: datetime,
    read: ReadFirst[ApplicantSnapshot],
) -> tuple[LoanView, bool]:
    """Store the application, the loan and its schedule; decide the underwriting on the
    applicant `read_applicant` read (its failure raised here, after a repeat has had its
    answer). Idempotent by application id and saga id: a repeat returns the loan made first (and
    False). Calls no other service."""
    application_id = request.application_id or new_id("APP")
    async with db.connection() as conn:
        existing = await repo.find_loan_for(conn, application_id, request.saga_id)
    if existing is not None:
        return await _existing(db, existing, request), False

    product = await product_for(db, request)
    schedule = preview(request, product, today())
    applicant = read.get()
    _check_applicant(applicant, request.loan_amount)
    applied_on = request.application_date or today()
    decision = underwriting.decide(
        underwriting.Applicant(
            applicant.kyc_status,
            applicant.credit_score,
            applicant.risk_level,
            applicant.annual_income,
        ),
        schedule.installment_amount,
        underwriting.Policy(
            product.underwriting.min_credit_score,
            product.underwriting.max_installment_to_income,
            product.underwriting.allowed_risk_levels,
        ),
    )
    status = LoanStatus.APPROVED if decision.approved else LoanStatus.PENDING_APPROVAL
    conditions = {
        "automatic": decision.approved,
        "checks": [c.as_dict() for c in decision.checks],
    }
    try:
        async with db.transaction() as conn:
            application = await repo.insert_application(
                conn,
                {
                    "application_id": application_id,
                    "customer_id": request.customer_id,
                    "requested_amount": request.loan_amount,
                    "requested_term": request.installment_count,
                    "loan_type": request.loan_type,
                    "purpose": request.purpose,
                    "employment_details": request.employment_details,
                    "income_verification": request.income_verification,
                    "collateral_details": request.collateral.wire(),
                    "application_status": "APPROVED" if decision.approved else "SUBMITTED",
                    "submitted_at": now,
                    "reviewed_at": now if decision.approved else None,
                    "reviewer_id": "AUTOMATIC_UNDERWRITING" if decision.approved else None,
                    "review_notes": "; ".join(decision.reasons),
                    "approval_conditions": conditions,
                    "created_at": now,
                    "updated_at": now,
                },
            )
            loan = await repo.insert_loan(
                conn,
                {
                    "loan_id": new_id("LOAN"),
                    "application_id": application_id,
                    "customer_id": request.customer_id,
                    "loan_amount": request.loan_amount,
                    "outstanding_amount": request.loan_amount,
                    "interest_rate": request.interest_rate,
                    "interest_method": request.interest_method or product.default_interest_method,
                    "product_code": product.code,
                    "product_version": product.version,
                    "installment_count": request.installment_count,
                    "installment_amount": schedule.installment_amount,
                    "total_repayment_amount": schedule.total_repayment,
                    "loan_type": request.loan_type,
                    "purpose": request.purpose,
                    "status": status,
                    "application_date": datetime.combine(applied_on, time.min),
                    "approval_date": now if decision.approved else None,
                    "first_installment_date": schedule.first_due_date,
                    "oldest_unpaid_due_date": schedule.first_due_date,
                    # Its product's first bucket: not past due.
                    "delinquency_bucket": product.delinquency_buckets[0].name,
                    "last_installment_date": schedule.maturity_date,
                    "maturity_date": schedule.maturity_date,
                    "collateral_type": request.collateral.type,
                    "collateral_value": request.collateral.value,
                    "credit_verification_status": "VERIFIED",
                    "saga_id": request.saga_id,
                    "created_at": now,
                    "updated_at": now,
                },
            )
            await repo.insert_installments(
                conn,
                loan.loan_id,
                [
                    (row.number, row.due_date, row.principal, row.interest, row.total, now)
                    for row in schedule.installments
                ],
            )
            if decision.approved:
                await _emit(conn, "LOAN_APPROVED", loan, LoanStatus.PENDING_APPROVAL, now)
            installments = await repo.list_installments(conn, loan.loan_id)
    except asyncpg.UniqueViolationError:
        # A concurrent request with the same application or saga id won the race.
        async with db.connection() as conn:
            existing = await repo.find_loan_for(conn, application_id, request.saga_id)
        if existing is None:
            raise
        return await _existing(db, existing, request), False
    return LoanView(loan, application, installments, product), True


async def _existing(db: Database, loan: Loan, request: SagaLoanRequest) -> LoanView:
    """The loan a repeated request made. A saga's repeat finds only its own loan: an application
    id that another saga (or a direct request) used is a conflict, never a loan to adopt."""
    if (
        (request.saga_id is not None and loan.saga_id != request.saga_id)
        or loan.customer_id != request.customer_id
        or loan.loan_amount != request.loan_amount
    ):
        raise conflict(
            f"Application {loan.application_id} belongs to another loan application",
            "CONFLICT",
            "applicationId",
        )
    return await get_loan(db, loan.loan_id)


# --- reads ----------------------------------------------------------------------------------


async def get_loan(db: Database, loan_id: str) -> LoanView:
    async with db.connection() as conn:
        loan = await repo.get_loan(conn, loan_id)
        if loan is None:
            raise not_found("Loan", loan_id)
        application = (
            await repo.get_application(conn, loan.application_id) if loan.application_id else None
        )
        installments = await repo.list_installments(conn, loan_id)
        payments = await repo.payment_totals(conn, loan_id)
    product = await product_service.version_of(db, loan.product_code, loan.product_version)
    return LoanView(loan, application, installments, product, payments)


async def loan_owner(db: Database, loan_id: str) -> str | None:
    """The customer whose loan this is; None when there is no such loan."""
    async with db.connection() as conn:
        loan = await repo.get_loan(conn, loan_id)
    return loan.customer_id if loan else None


async def list_loans(
    db: Database,
    customer_id: str | None,
    status: str | None,
    loan_type: str | None,
    page: int,
    size: int,
) -> tuple[list[Loan], int]:
    async with db.connection() as conn:
        return await repo.list_loans(conn, customer_id, status, loan_type, size, page * size)


# --- lifecycle ------------------------------------------------------------------------------


async def _locked(conn: asyncpg.Connection, loan_id: str) -> Loan:
    loan = await repo.lock_loan(conn, loan_id)
    if loan is None:
        raise not_found("Loan", loan_id)
    return loan


async def approve_loan(db: Database, loan_id: str, request: ApproveRequest, now: datetime) -> Loan:
    async with db.transaction() as conn:
        loan = await _locked(conn, loan_id)
        status = domain.next_status(loan.status, LoanAction.APPROVE)
        updated = await repo.update_loan(
            conn, loan_id, {"status": status, "approval_date": now}, now
        )
        if loan.application_id:
            application = await repo.get_application(conn, loan.application_id)
            # The automatic checks stay beside the officer's decision: both explain the loan.
            decided = dict(application.approval_conditions or {}) if application else {}
            decided.update(automatic=False, officerConditions=request.conditions)
            notes = [application.review_notes if application else None, request.notes]
            await repo.review_application(
                conn,
                loan.application_id,
                {
                    "application_status": "APPROVED",
                    "reviewed_at": now,
                    "reviewer_id": request.officer_id,
                    "review_notes": " | ".join(n for n in notes if n) or None,
                    "approval_conditions": decided,
                },
                now,
            )
        await _emit(conn, "LOAN_APPROVED", updated, loan.status, now)
    return updated


async def reject_loan(db: Database, loan_id: str, request: RejectRequest, now: datetime) -> Loan:
    async with db.transaction() as conn:
        loan = await _locked(conn, loan_id)
        status = domain.next_status(loan.status, LoanAction.REJECT)
        updated = await repo.update_loan(conn, loan_id, {"status": status}, now)
        if loan.application_id:
            await repo.review_application(
                conn,
                loan.application_id,
                {
                    "application_status": "REJECTED",
                    "reviewed_at": now,
                    "reviewer_id": request.officer_id,
                    "rejection_reason": request.reason,
                },
                now,
            )
        await _emit(conn, "LOAN_REJECTED", updated, loan.status, now)
    return updated


async def cancel_loan(db: Database, loan_id: str, request: CancelRequest, now: datetime) -> Loan:
    async with db.transaction() as conn:
        loan = await _locked(conn, loan_id)
        status = domain.next_status(loan.status, LoanAction.CANCEL)
        updated = await repo.update_loan(conn, loan_id, {"status": status}, now)
        if loan.application_id:
            await repo.review_application(
                conn,
                loan.application_id,
                {"application_status": "CANCELLED", "review_notes": request.reason},
                now,
            )
        await _emit(conn, "LOAN_CANCELLED", updated, loan.status, now)
    return updated


async def disburse_loan(
    db: Database, loan_id: str, request: DisburseRequest, now: datetime
) -> Loan:
    """APPROVED → ACTIVE. Disbursed in a later month than the schedule assumed, the due dates
    move with it (the amounts do not)."""
    disbursed_on = request.disbursement_date or today()
    async with db.transaction() as conn:
        loan = await _locked(conn, loan_id)
        status = domain.next_status(loan.status, LoanAction.DISBURSE)
        if disbursed_on < loan.application_date.date():
            raise invalid(
                "disbursementDate", "must not be before the application date", str(disbursed_on)
            )
        dates = due_dates(disbursed_on, loan.installment_count)
        changes: dict[str, Any] = {
            "status": status,
            "disbursement_date": datetime.combine(disbursed_on, time.min),
        }
        if dates[0] != loan.first_installment_date:
            await repo.move_due_dates(conn, loan_id, dates, now)
            changes.update(
                first_installment_date=dates[0],
                last_installment_date=dates[-1],
                maturity_date=dates[-1],
                oldest_unpaid_due_date=dates[0],
            )
        return await repo.update_loan(conn, loan_id, changes, now)


# --- payments -------------------------------------------------------------------------------


async def apply_payment(
    db: Database, loan_id: str, request: ApplyPaymentRequest, now: datetime
) -> dict[str, Any]:
    """Apply a payment's allocation to the installments, once per payment id.

    The caller calculated against the loan at `expectedVersion`; if the loan changed since
    (another payment, say), the call is refused with 409 and nothing is written, so one
    installment is never paid twice."""
    async with db.transaction() as conn:
        loan = await _locked(conn, loan_id)
        earlier = await repo.get_payment_application(conn, request.payment_id)
        if earlier is not None:
            if earlier["loan_id"] != loan_id:
                raise conflict("Payment was applied to another loan", "CONFLICT", "paymentId")
            return {**earlier["result"], "replayed": True}
        if loan.status != LoanStatus.ACTIVE:
            raise business_rule(
                f"Payments apply to ACTIVE loans; this one is {loan.status}",
                "INVALID_LOAN_STATE",
            )
        if loan.version != request.expected_version:
            raise conflict(
                f"Loan changed since the payment was calculated (version {loan.version},"
                f" not {request.expected_version})",
                "VERSION_CONFLICT",
                "expectedVersion",
            )
        installments = await repo.list_installments(conn, loan_id)
        parts = [
            InstallmentPayment(
                p.installment_number,
                p.principal_paid,
                p.interest_paid,
                p.penalty_paid,
                p.discount_applied,
                p.interest_waived,
            )
            for p in request.installments
        ]
        product = await product_service.version_of(
            db, loan.product_code, loan.product_version, conn
        )
        order = AllocationOrder(product.allocation_order).parts
        paid_at = as_naive_utc(request.paid_at)
        if paid_at.date() > today():
            # A payment is never dated after the business date: its penalty would be frozen in
            # the future, and every later payment refused as dated before it.
            raise business_rule(
                f"Payment date {paid_at.date()} is after the business date {today()}",
                "INVALID_PAYMENT_DATE",
                businessDate=today().isoformat(),
            )
        if any(p.interest_waived for p in parts):
            _check_payoff(loan, installments, parts, paid_at.date(), product)
        changes = domain.apply_payment(
            installments, parts, paid_at.date(), product.penalty_terms, order
        )
        await repo.apply_installment_changes(conn, loan_id, changes, paid_at, now)
        await repo.refresh_oldest_unpaid(conn, loan_id)
        principal = sum((p.principal_paid for p in parts), ZERO)
        paid_off = domain.is_paid_off(installments, changes)
        loan_changes: dict[str, Any] = {"outstanding_amount": loan.outstanding_amount - principal}
        if paid_off:
            loan_changes["status"] = domain.next_status(loan.status, LoanAction.PAY_OFF)
        updated = await repo.update_loan(conn, loan_id, loan_changes, now)
        if paid_off:
            await _emit(conn, "LOAN_PAID_OFF", updated, loan.status, now)
        result = {
            "loanId": loan_id,
            "paymentId": request.payment_id,
            "principalPaid": principal,
            "interestWaived": sum((p.interest_waived for p in parts), ZERO),
            "outstandingAmount": updated.outstanding_amount,
            "loanStatus": updated.status,
            "loanPaidOff": paid_off,
            "loanVersion": updated.version,
            "installments": [
                {
                    "installmentNumber": c.installment_number,
                    "status": c.status,
                    "paidAmount": c.paid_amount,
                    "remainingAmount": c.remaining_amount,
                }
                for c in changes
            ],
        }
        await repo.insert_payment_application(
            conn,
            {
                "payment_id": request.payment_id,
                "loan_id": loan_id,
                "applied_at": now,
                "paid_date": paid_at,
                "principal_paid": principal,
                "interest_paid": sum((p.interest_paid for p in parts), ZERO),
                "penalty_paid": sum((p.penalty_paid for p in parts), ZERO),
                "discount_applied": sum((p.discount_applied for p in parts), ZERO),
                "amount_paid": sum((p.cash for p in parts), ZERO),
                "result": result,
            },
        )
    return {**result, "replayed": False}


def _check_payoff(
    loan: Loan,
    installments: list[Installment],
    parts: list[InstallmentPayment],
    on: date,
    product: Product,
) -> None:
    """Interest is waived only by paying the loan off: the parts must be the loan's own payoff
    quote on the payment date, line for line, to the cent."""
    assert loan.disbursement_date is not None
    quote = quote_payoff(
        [i.payoff_item for i in installments],
        on,
        loan.disbursement_date.date(),
        product.penalty_terms,
    )
    expected = [
        (line.number, line.principal, line.interest, line.penalty, line.interest_waived)
        for line in quote.lines
    ]
    given = [
        (p.installment_number, p.principal_paid, p.interest_paid, p.penalty_paid, p.interest_waived)
        for p in sorted(parts, key=lambda p: p.installment_number)
    ]
    if given != expected or any(p.discount_applied for p in parts):
        raise business_rule(
            f"Interest is waived only by paying the loan off: on {on} that takes {quote.amount}",
            "INSTALLMENT_NOT_PAYABLE",
            amountNeeded=quote.amount,
        )


async def waive_penalty(
    db: Database,
    loan_id: str,
    number: int,
    request: WaivePenaltyRequest,
    who: str,
    on: date,
    now: datetime,
) -> dict[str, Any]:
    """An officer waives an installment's penalty (all it owes on the business date, or
    `amount`), recorded with who and why. The loan's version moves: a payment priced before
    the waiver is refused (409) and priced again."""
    async with db.transaction() as conn:
        loan = await _locked(conn, loan_id)
        if loan.status != LoanStatus.ACTIVE:
            raise business_rule(
                f"Penalties are waived on ACTIVE loans; this one is {loan.status}",
                "INVALID_LOAN_STATE",
            )
        target = next(
            (
                i
                for i in await repo.list_installments(conn, loan_id)
                if i.installment_number == number
            ),
            None,
        )
        if target is None:
            raise not_found("Installment", f"{loan_id}/{number}")
        product = await product_service.version_of(
            db, loan.product_code, loan.product_version, conn
        )
        try:
            change, waived = domain.waive_penalty(target, request.amount, on, product.penalty_terms)
        except domain.WaiverBeforeLastChange as refused:
            raise business_rule(str(refused), "INVALID_WAIVER_DATE") from None
        except domain.WaiverTooLarge as refused:
            raise DomainError(
                f"Installment {number} owes {refused.owed} of penalty on {on}; "
                + ("there is nothing to waive" if refused.owed == ZERO else "waive at most that"),
                code="WAIVER_EXCEEDS_PENALTY",
                status=422,
                details=[FieldProblem("amount", "more than the penalty owed", request.amount)],
                extra={"penaltyOutstanding": refused.owed},
            ) from None
        await repo.apply_installment_changes(conn, loan_id, [change], None, now)
        await repo.refresh_oldest_unpaid(conn, loan_id)
        paid_off = domain.is_paid_off(await repo.list_installments(conn, loan_id), [])
        loan_changes: dict[str, Any] = {}
        if paid_off:
            loan_changes["status"] = domain.next_status(loan.status, LoanAction.PAY_OFF)
        updated = await repo.update_loan(conn, loan_id, loan_changes, now)
        if paid_off:
            await _emit(conn, "LOAN_PAID_OFF", updated, loan.status, now)
        waiver = await repo.insert_waiver(
            conn,
            {
                "loan_id": loan_id,
                "installment_number": number,
                "amount": waived,
                "reason": request.reason,
                "waived_by": who,
                "business_date": on,
                "created_at": now,
            },
        )
    return {
        "waiverId": waiver["waiver_id"],
        "loanId": loan_id,
        "installmentNumber": number,
        "amount": waived,
        "reason": request.reason,
        "waivedBy": who,
        "businessDate": on,
        "createdAt": now,
        "installmentStatus": change.status,
        "penaltyOutstanding": change.penalty_outstanding,
        "loanStatus": updated.status,
        "loanVersion": updated.version,
    }


async def payoff_quote(db: Database, loan_id: str, on: date | None) -> PayoffQuote:
    """What closing the loan takes on `on` (the business date by default, never before it)."""
    day = on or today()
    if day < today():
        raise invalid("date", f"must be on or after the business date {today()}", str(day))
    view = await get_loan(db, loan_id)
    loan = view.loan
    if loan.status != LoanStatus.ACTIVE or loan.disbursement_date is None:
        raise business_rule(
            f"A payoff is quoted for ACTIVE loans; this one is {loan.status}",
            "INVALID_LOAN_STATE",
        )
    return quote_payoff(
        [i.payoff_item for i in view.installments],
        day,
        loan.disbursement_date.date(),
        view.product.penalty_terms,
    )


async def delinquency_history(
    db: Database, loan_id: str, page: int, size: int
) -> tuple[list[dict[str, Any]], int]:
    async with db.connection() as conn:
        if await repo.get_loan(conn, loan_id) is None:
            raise not_found("Loan", loan_id)
        return await repo.delinquency_history(conn, loan_id, size, page * size)
