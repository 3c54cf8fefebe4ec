"""Answers of the payment API that are more than one row (api.md §4): a quote, a payment with
its installments, and a payment as recorded for the PAYMENT_PROCESSING saga."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from elms.core.money import ZERO
from elms.core.schemas import CamelModel
from elms.payment.allocation import Allocation, OpenInstallment, Terms, payment_window, quote
from elms.payment.schemas import PaymentInstallmentOut, PaymentOut
from elms.payment.service import LoanSnapshot, PaymentView

RATE_PLACES = Decimal("0.000001")


class CalculationOut(CamelModel):
    base_amount: Decimal
    discount_amount: Decimal
    penalty_amount: Decimal
    final_amount: Decimal
    early_payment_days: int
    late_payment_days: int
    discount_rate: Decimal
    penalty_rate: Decimal

    @classmethod
    def of(cls, allocation: Allocation, terms: Terms) -> CalculationOut:
        rows = allocation.rows
        return cls(
            base_amount=allocation.base_amount,
            discount_amount=allocation.discount_amount,
            penalty_amount=allocation.penalty_amount,
            final_amount=allocation.final_amount,
            early_payment_days=max((r.early_days for r in rows), default=0),
            late_payment_days=max((r.late_days for r in rows), default=0),
            discount_rate=terms.discount_rate_per_day.quantize(RATE_PLACES),
            penalty_rate=terms.penalty_rate_per_day.quantize(RATE_PLACES),
        )


class BreakdownRowOut(CamelModel):
    installment_number: int
    due_date: date
    original_amount: Decimal
    discount_applied: Decimal
    penalty_applied: Decimal
    amount_to_pay: Decimal
    principal_portion: Decimal
    interest_portion: Decimal


class PaymentWindowOut(CamelModel):
    early_payment_until: date
    grace_period_until: date
    penalty_starts_from: date


class PaymentAdviceOut(CamelModel):
    """What settles everything due by the date (or, with nothing due, the next installment),
    and the discount that paying every payable installment now would earn."""

    recommended_amount: Decimal
    savings_opportunity: Decimal
    payment_window: PaymentWindowOut


class QuoteOut(CamelModel):
    """`POST /api/v1/payments/calculate`."""

    loan_id: str
    payment_date: date
    calculation: CalculationOut
    installment_breakdown: list[BreakdownRowOut]
    unapplied_amount: Decimal
    payment_advice: PaymentAdviceOut

    @classmethod
    def of(
        cls,
        allocation: Allocation,
        loan: LoanSnapshot,
        on: date,
        open_now: list[OpenInstallment],
        terms: Terms,
    ) -> dict[str, Any]:
        due_now = [i for i in open_now if i.due_date <= on] or open_now[:1]
        window = payment_window(allocation.rows[0].due_date, terms)
        return cls(
            loan_id=loan.loan_id,
            payment_date=on,
            calculation=CalculationOut.of(allocation, terms),
            installment_breakdown=[
                BreakdownRowOut(
                    installment_number=r.number,
                    due_date=r.due_date,
                    original_amount=r.original_amount,
                    discount_applied=r.discount_applied,
                    penalty_applied=r.penalty_paid,
                    amount_to_pay=r.paid,
                    principal_portion=r.principal_paid,
                    interest_portion=r.interest_paid,
                )
                for r in allocation.rows
            ],
            unapplied_amount=allocation.unapplied,
            payment_advice=PaymentAdviceOut(
                recommended_amount=sum((quote(i, on, terms).amount_due for i in due_now), ZERO),
                savings_opportunity=sum((quote(i, on, terms).discount for i in open_now), ZERO),
                payment_window=PaymentWindowOut(
                    early_payment_until=window.early_payment_until,
                    grace_period_until=window.grace_period_until,
                    penalty_starts_from=window.penalty_starts_from,
                ),
            ),
        ).wire()


class PaymentDetailsOut(PaymentOut):
    """A payment with what it paid of each installment."""

    installment_payments: list[PaymentInstallmentOut]
    installments_paid: int
    unapplied_amount: Decimal
    principal_paid: Decimal
    outstanding_principal_after: Decimal | None

    @classmethod
    def fields_of(cls, view: PaymentView) -> dict[str, Any]:
        payment = view.payment
        rows = view.installments
        principal = sum((r.principal_paid for r in rows), ZERO)
        offered = payment.offered_amount
        before = payment.outstanding_before
        return {
            **dict(PaymentOut.model_validate(payment, from_attributes=True)),
            "installment_payments": [
                PaymentInstallmentOut.model_validate(r, from_attributes=True) for r in rows
            ],
            "installments_paid": sum(1 for r in rows if r.remaining_amount == ZERO),
            "unapplied_amount": (offered - payment.payment_amount) if offered is not None else ZERO,
            "principal_paid": principal,
            "outstanding_principal_after": (before - principal) if before is not None else None,
        }

    @classmethod
    def of(cls, view: PaymentView) -> dict[str, Any]:
        return cls(**cls.fields_of(view)).wire()


class BalanceOut(CamelModel):
    outstanding_principal: Decimal
    outstanding_interest: Decimal
    total_outstanding: Decimal


class PaymentProcessedOut(PaymentDetailsOut):
    """`POST /api/v1/payments` once its saga completed: the payment recorded, applied to the
    loan and completed, with the calculation it was made on and the loan's balance after it."""

    calculation: CalculationOut
    loan_paid_off: bool
    balance_after_payment: BalanceOut
    saga_id: str


class InstallmentApplicationOut(CamelModel):
    installment_number: int
    principal_paid: Decimal
    interest_paid: Decimal
    penalty_paid: Decimal
    discount_applied: Decimal
    interest_waived: Decimal


class ApplyRequestOut(CamelModel):
    """What the saga's APPLY_TO_LOAN step sends to the loan service."""

    payment_id: str
    expected_version: int
    paid_at: datetime
    installments: list[InstallmentApplicationOut]


class PaymentRecordedOut(PaymentDetailsOut):
    """The RECORD_PAYMENT step's answer (internal): the saga's next steps read it."""

    calculation: CalculationOut
    loan_paid_off: bool
    balance_after_payment: BalanceOut
    apply_request: ApplyRequestOut

    @classmethod
    def recorded(
        cls, view: PaymentView, allocation: Allocation, loan: LoanSnapshot, terms: Terms
    ) -> dict[str, Any]:
        paid_now = {r.number for r in allocation.rows if r.settles}
        open_numbers = {i.number for i in loan.installments if i.status != "PAID"}
        principal = sum((r.principal_paid for r in allocation.rows), ZERO)
        interest = sum((r.interest_paid for r in allocation.rows), ZERO)
        after_principal = loan.outstanding_amount - principal
        after_interest = (
            loan.outstanding_interest
            - interest
            - sum((r.interest_waived for r in allocation.rows), ZERO)
        )
        return cls(
            **cls.fields_of(view),
            calculation=CalculationOut.of(allocation, terms),
            loan_paid_off=open_numbers <= paid_now,
            balance_after_payment=BalanceOut(
                outstanding_principal=after_principal,
                outstanding_interest=after_interest,
                total_outstanding=after_principal + after_interest,
            ),
            apply_request=ApplyRequestOut(
                payment_id=view.payment.payment_id,
                expected_version=loan.version,
                paid_at=view.payment.payment_date,
                installments=[
                    InstallmentApplicationOut(
                        installment_number=r.number,
                        principal_paid=r.principal_paid,
                        interest_paid=r.interest_paid,
                        penalty_paid=r.penalty_paid,
                        discount_applied=r.discount_applied,
                        interest_waived=r.interest_waived,
                    )
                    for r in allocation.rows
                ],
            ),
        ).wire()
