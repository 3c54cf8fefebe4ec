"""The loan's rules, pure: its lifecycle, its installments' statuses, applying a payment."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from elms.core.errors import business_rule
from elms.core.money import ZERO


class LoanStatus(StrEnum):
    PENDING_APPROVAL = "PENDING_APPROVAL"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    ACTIVE = "ACTIVE"
    CANCELLED = "CANCELLED"
    PAID_OFF = "PAID_OFF"


class InstallmentStatus(StrEnum):
    PENDING = "PENDING"
    PARTIALLY_PAID = "PARTIALLY_PAID"
    PAID = "PAID"
    OVERDUE = "OVERDUE"


class LoanType(StrEnum):
    PERSONAL = "PERSONAL"
    AUTO = "AUTO"
    MORTGAGE = "MORTGAGE"
    BUSINESS = "BUSINESS"
    EDUCATION = "EDUCATION"


class CollateralType(StrEnum):
    NONE = "NONE"
    VEHICLE = "VEHICLE"
    REAL_ESTATE = "REAL_ESTATE"
    SAVINGS = "SAVINGS"
    SECURITIES = "SECURITIES"
    OTHER = "OTHER"


class LoanAction(StrEnum):
    APPROVE = "APPROVE"
    REJECT = "REJECT"
    DISBURSE = "DISBURSE"
    CANCEL = "CANCEL"
    PAY_OFF = "PAY_OFF"


# api.md §3 "Lifecycle": every other move is 422 INVALID_LOAN_STATE.
_MOVES: dict[tuple[LoanStatus, LoanAction], LoanStatus] = {
    (LoanStatus.PENDING_APPROVAL, LoanAction.APPROVE): LoanStatus.APPROVED,
    (LoanStatus.PENDING_APPROVAL, LoanAction.REJECT): LoanStatus.REJECTED,
    (LoanStatus.PENDING_APPROVAL, LoanAction.CANCEL): LoanStatus.CANCELLED,
    (LoanStatus.APPROVED, LoanAction.CANCEL): LoanStatus.CANCELLED,
    (LoanStatus.APPROVED, LoanAction.DISBURSE): LoanStatus.ACTIVE,
    (LoanStatus.ACTIVE, LoanAction.PAY_OFF): LoanStatus.PAID_OFF,
}


def next_status(current: str, action: LoanAction) -> LoanStatus:
    target = _MOVES.get((LoanStatus(current), action))
    if target is None:
        raise business_rule(
            f"Cannot {action.lower().replace('_', ' ')} a loan that is {current}",
            "INVALID_LOAN_STATE",
            currentStatus=current,
            action=action,
        )
    return target


@dataclass(frozen=True)
class Installment:
    installment_id: int
    loan_id: str
    installment_number: int
    due_date: date
    principal_amount: Decimal
    interest_amount: Decimal
    total_amount: Decimal
    status: str
    paid_date: datetime | None
    paid_amount: Decimal
    discount_applied: Decimal
    penalty_applied: Decimal
    remaining_amount: Decimal | None

    @property
    def remaining(self) -> Decimal:
        """Principal and interest still owed (penalties and discounts are settled as paid)."""
        return self.total_amount if self.remaining_amount is None else self.remaining_amount

    @property
    def scheduled_paid(self) -> Decimal:
        return self.total_amount - self.remaining

    @property
    def interest_paid(self) -> Decimal:
        # Within an installment money goes to interest first (api.md §4 rule 4).
        return min(self.interest_amount, self.scheduled_paid)

    @property
    def principal_paid(self) -> Decimal:
        return self.scheduled_paid - self.interest_paid

    @property
    def is_settled(self) -> bool:
        return self.status == InstallmentStatus.PAID


@dataclass(frozen=True)
class InstallmentPayment:
    """One installment's share of a payment, as the payment service allocated it."""

    installment_number: int
    principal_paid: Decimal
    interest_paid: Decimal
    penalty_paid: Decimal
    discount_applied: Decimal

    @property
    def cash(self) -> Decimal:
        return self.principal_paid + self.interest_paid + self.penalty_paid - self.discount_applied


@dataclass(frozen=True)
class InstallmentChange:
    installment_number: int
    status: InstallmentStatus
    paid_amount: Decimal
    discount_applied: Decimal
    penalty_applied: Decimal
    remaining_amount: Decimal


def apply_payment(
    installments: list[Installment], parts: list[InstallmentPayment]
) -> list[InstallmentChange]:
    """The installments' new amounts and statuses after a payment. Refuses a part that pays an
    installment already paid, more principal or interest than it still owes, principal before
    the interest or a penalty before the principal, or negative money."""
    by_number = {i.installment_number: i for i in installments}
    changes = []
    for part in parts:
        target = by_number.get(part.installment_number)
        if target is None:
            raise business_rule(
                f"Loan has no installment {part.installment_number}", "INSTALLMENT_NOT_PAYABLE"
            )
        owed_interest = target.interest_amount - target.interest_paid
        owed_principal = target.principal_amount - target.principal_paid
        amounts = (
            part.principal_paid,
            part.interest_paid,
            part.penalty_paid,
            part.discount_applied,
        )
        if (
            target.is_settled
            or min(amounts) < ZERO
            or part.interest_paid > owed_interest
            or part.principal_paid > owed_principal
            # Interest, then principal, then penalty (api.md §4 rule 4): a later one takes money
            # only once this part settles the earlier ones. What is left is counted interest
            # first, so principal paid before interest could be repaid twice.
            or (
                part.principal_paid + part.penalty_paid > ZERO
                and part.interest_paid < owed_interest
            )
            or (part.penalty_paid > ZERO and part.principal_paid < owed_principal)
        ):
            raise business_rule(
                f"Installment {part.installment_number} cannot take this payment",
                "INSTALLMENT_NOT_PAYABLE",
            )
        remaining = target.remaining - part.principal_paid - part.interest_paid
        changes.append(
            InstallmentChange(
                part.installment_number,
                InstallmentStatus.PAID if remaining == ZERO else InstallmentStatus.PARTIALLY_PAID,
                target.paid_amount + part.cash,
                target.discount_applied + part.discount_applied,
                target.penalty_applied + part.penalty_paid,
                remaining,
            )
        )
    return changes


def is_paid_off(installments: list[Installment], changes: list[InstallmentChange]) -> bool:
    changed = {c.installment_number: c.status for c in changes}
    return all(
        changed.get(i.installment_number, i.status) == InstallmentStatus.PAID for i in installments
    )
