"""Answers of the loan API that are more than one row (api.md §3): a loan with its schedule,
payments and application; the schedule with its summary; the calculator's preview."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from elms.core.business_day import today
from elms.core.money import ZERO
from elms.core.payoff import PayoffQuote
from elms.core.penalty import PenaltyTerms, days_past_due
from elms.core.schemas import CamelModel
from elms.loan.domain import Installment, InstallmentStatus, LoanStatus
from elms.loan.products import Product, bucket_of
from elms.loan.schedule import InterestMethod, Schedule
from elms.loan.schemas import InstallmentOut, LoanOut, ScheduleRequest, ScheduleRowOut
from elms.loan.service import LoanView


def installment_out(row: Installment, on: date, terms: PenaltyTerms | None) -> InstallmentOut:
    """`terms` None: the loan is not lent out (not ACTIVE), so nothing of it is late."""
    return InstallmentOut(
        installment_number=row.installment_number,
        due_date=row.due_date,
        principal_amount=row.principal_amount,
        interest_amount=row.interest_amount,
        total_amount=row.total_amount,
        status=row.status,
        paid_date=row.paid_date,
        paid_amount=row.paid_amount,
        discount_applied=row.discount_applied,
        penalty_applied=row.penalty_applied,
        remaining_amount=row.remaining,
        principal_remaining=row.principal_amount - row.principal_paid,
        interest_remaining=row.interest_remaining,
        penalty_outstanding=row.penalty_outstanding,
        penalty_frozen_on=row.penalty_frozen_on,
        penalty_waived=row.penalty_waived,
        penalty_due=row.penalty_owed(on, terms) if terms is not None else ZERO,
        interest_waived=row.interest_waived,
    )


def _lent(view: LoanView) -> PenaltyTerms | None:
    return view.product.penalty_terms if view.loan.status == LoanStatus.ACTIVE else None


def _unpaid(rows: list[Installment]) -> list[Installment]:
    return [r for r in rows if r.status != InstallmentStatus.PAID]


class PaymentHistoryOut(CamelModel):
    total_paid: Decimal
    last_payment_date: datetime | None
    last_payment_amount: Decimal | None
    early_payment_discount: Decimal
    late_payment_penalty: Decimal


class ApplicationOut(CamelModel):
    """The application the loan came from, with underwriting's reasons for its decision."""

    application_id: str
    application_status: str
    submitted_at: datetime
    reviewed_at: datetime | None
    reviewer_id: str | None
    review_notes: str | None
    approval_conditions: Any
    rejection_reason: str | None
    employment_details: dict[str, Any] | None
    income_verification: dict[str, Any] | None
    collateral: dict[str, Any] | None


class PaymentTermsOut(CamelModel):
    """The payment rules of the loan's product version, which the payment service applies:
    daily early-discount and late-penalty rates, the grace period, the penalty cap (a share of
    the installment, none if null), fees per payment method, and the order in which a partial
    payment pays an installment's parts."""

    early_discount_rate: Decimal
    late_penalty_rate: Decimal
    penalty_grace_days: int
    penalty_cap_ratio: Decimal | None
    processing_fees: dict[str, Decimal]
    allocation_order: str

    @classmethod
    def of(cls, product: Product) -> PaymentTermsOut:
        return cls(
            early_discount_rate=product.early_discount_rate,
            late_penalty_rate=product.late_penalty_rate,
            penalty_grace_days=product.penalty_grace_days,
            penalty_cap_ratio=product.penalty_cap_ratio,
            processing_fees=dict(product.processing_fees),
            allocation_order=product.allocation_order,
        )


class LoanDetailsOut(LoanOut):
    """`GET /api/v1/loans/{loanId}` and a new loan: `paymentHistory` once the payment service
    has been asked, `application` when the loan has one, the payment terms of its product, and
    its delinquency on the business date: days past due (since the due date of its oldest
    installment not fully paid, penalty included), its bucket and whether it is non-performing,
    what is overdue (principal, interest and penalty of installments due before the business
    date) and the penalty it owes. The bucket recorded at the last close of business, and its
    moves, are in `delinquency-history`."""

    payment_terms: PaymentTermsOut
    days_past_due: int
    delinquency_bucket: str
    non_performing: bool
    overdue_amount: Decimal
    penalty_outstanding: Decimal
    paid_installments: int
    remaining_installments: int
    next_installment_date: date | None
    payment_history: PaymentHistoryOut | None = None
    application: ApplicationOut | None = None
    installments: list[InstallmentOut]

    @classmethod
    def of(cls, view: LoanView, non_performing_days: int) -> dict[str, Any]:
        unpaid = _unpaid(view.installments)
        on, terms = today(), view.product.penalty_terms
        lent = _lent(view)
        fields: dict[str, Any] = dict(LoanOut.model_validate(view.loan, from_attributes=True))
        # Only money lent can be late: a loan not yet disbursed (or closed) is current.
        owing = unpaid if view.loan.status == LoanStatus.ACTIVE else []
        dpd = days_past_due([i.due_date for i in owing], on)
        fields.update(
            days_past_due=dpd,
            delinquency_bucket=bucket_of(view.product.delinquency_buckets, dpd),
            non_performing=dpd > non_performing_days,
            overdue_amount=sum((i.amount_owed(on, terms) for i in owing if i.due_date < on), ZERO),
            penalty_outstanding=sum((i.penalty_owed(on, terms) for i in owing), ZERO),
            payment_terms=PaymentTermsOut.of(view.product),
            paid_installments=len(view.installments) - len(unpaid),
            remaining_installments=len(unpaid),
            next_installment_date=unpaid[0].due_date if unpaid else None,
        )
        if view.payments is not None:
            paid = view.payments
            fields["payment_history"] = PaymentHistoryOut(
                total_paid=paid.total_paid,
                last_payment_date=paid.last_payment_date,
                last_payment_amount=paid.last_payment_amount,
                early_payment_discount=paid.discounts,
                late_payment_penalty=paid.penalties,
            )
        if view.application is not None:
            app = view.application
            fields["application"] = ApplicationOut(
                application_id=app.application_id,
                application_status=app.application_status,
                submitted_at=app.submitted_at,
                reviewed_at=app.reviewed_at,
                reviewer_id=app.reviewer_id,
                review_notes=app.review_notes,
                approval_conditions=app.approval_conditions,
                rejection_reason=app.rejection_reason,
                employment_details=app.employment_details,
                income_verification=app.income_verification,
                collateral=app.collateral_details,
            )
        fields["installments"] = [installment_out(r, on, lent) for r in view.installments]
        return cls(**fields).model_dump(by_alias=True, exclude_unset=True)


class ScheduleSummaryOut(CamelModel):
    total_principal: Decimal
    total_interest: Decimal
    total_amount: Decimal
    paid_amount: Decimal
    remaining_amount: Decimal
    next_due_amount: Decimal | None
    next_due_date: date | None


class ScheduleOut(CamelModel):
    """`GET /api/v1/loans/{loanId}/installments`."""

    loan_id: str
    total_installments: int
    installments: list[InstallmentOut]
    summary: ScheduleSummaryOut

    @classmethod
    def of(cls, view: LoanView) -> dict[str, Any]:
        rows = view.installments
        unpaid = _unpaid(rows)
        remaining = sum((r.remaining for r in rows), ZERO)
        total = sum((r.total_amount for r in rows), ZERO)
        return cls(
            loan_id=view.loan.loan_id,
            total_installments=len(rows),
            installments=[installment_out(r, today(), _lent(view)) for r in rows],
            summary=ScheduleSummaryOut(
                total_principal=sum((r.principal_amount for r in rows), ZERO),
                total_interest=sum((r.interest_amount for r in rows), ZERO),
                total_amount=total,
                paid_amount=total - remaining,
                remaining_amount=remaining,
                next_due_amount=unpaid[0].remaining if unpaid else None,
                next_due_date=unpaid[0].due_date if unpaid else None,
            ),
        ).wire()


class PreviewOut(CamelModel):
    """`POST /api/v1/loans/preview`: the schedule a loan request would have."""

    product_code: str
    product_version: int
    loan_amount: Decimal
    interest_rate: Decimal
    interest_method: InterestMethod
    installment_count: int
    installment_amount: Decimal
    total_interest: Decimal
    total_repayment_amount: Decimal
    first_installment_date: date
    maturity_date: date
    installments: list[ScheduleRowOut]

    @classmethod
    def of(cls, schedule: Schedule, request: ScheduleRequest, product: Product) -> dict[str, Any]:
        return cls(
            product_code=product.code,
            product_version=product.version,
            loan_amount=request.loan_amount,
            interest_rate=request.interest_rate,
            interest_method=request.interest_method or product.default_interest_method,
            installment_count=request.installment_count,
            installment_amount=schedule.installment_amount,
            total_interest=schedule.total_interest,
            total_repayment_amount=schedule.total_repayment,
            first_installment_date=schedule.first_due_date,
            maturity_date=schedule.maturity_date,
            installments=[
                ScheduleRowOut(
                    installment_number=r.number,
                    due_date=r.due_date,
                    principal_amount=r.principal,
                    interest_amount=r.interest,
                    total_amount=r.total,
                )
                for r in schedule.installments
            ],
        ).wire()


class WaiverOut(CamelModel):
    """A penalty waived: how much, of which installment, by whom and why, and where that leaves
    the installment and the loan."""

    waiver_id: int
    loan_id: str
    installment_number: int
    amount: Decimal
    reason: str
    waived_by: str
    business_date: date
    created_at: datetime
    installment_status: str
    penalty_outstanding: Decimal
    loan_status: str
    loan_version: int


class DelinquencyMoveOut(CamelModel):
    """A loan's move between delinquency buckets (or in or out of non-performing), recorded by
    the close of business of `businessDate`."""

    business_date: date
    previous_bucket: str
    bucket: str
    days_past_due: int
    previous_non_performing: bool
    non_performing: bool
    oldest_unpaid_due_date: date | None
    cob_run_id: str
    recorded_at: datetime


class PayoffLineOut(CamelModel):
    installment_number: int
    due_date: date
    principal: Decimal
    interest: Decimal
    penalty: Decimal
    interest_waived: Decimal
    amount: Decimal


class PayoffOut(CamelModel):
    """`GET /api/v1/loans/{loanId}/payoff?date=`: what closing the loan takes on `date`. Interest
    due is the unpaid interest of installments due by then plus the current period's pro rata;
    later interest is waived (`interestWaived`); no fee is charged for paying off."""

    loan_id: str
    date: date
    principal_outstanding: Decimal
    interest_due: Decimal
    penalty_due: Decimal
    fees_due: Decimal
    payoff_amount: Decimal
    interest_waived: Decimal
    installments: list[PayoffLineOut]

    @classmethod
    def of(cls, loan_id: str, quote: PayoffQuote) -> dict[str, Any]:
        return cls(
            loan_id=loan_id,
            date=quote.on,
            principal_outstanding=quote.principal,
            interest_due=quote.interest,
            penalty_due=quote.penalty,
            fees_due=quote.fees,
            payoff_amount=quote.amount,
            interest_waived=quote.interest_waived,
            installments=[
                PayoffLineOut(
                    installment_number=line.number,
                    due_date=line.due_date,
                    principal=line.principal,
                    interest=line.interest,
                    penalty=line.penalty,
                    interest_waived=line.interest_waived,
                    amount=line.amount,
                )
                for line in quote.lines
            ],
        ).wire()
