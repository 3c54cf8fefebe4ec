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
    # Paid of each part so far (a product's allocation order may pay principal first).
    principal_paid: Decimal = ZERO
    interest_paid: Decimal = ZERO

    @property
    def remaining(self) -> Decimal:
        """Principal and interest still owed (penalties and discounts are settled as paid)."""
        return self.total_amount if self.remaining_amount is None else self.remaining_amount

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
    principal_paid: Decimal
    interest_paid: Decimal


# The order a partial payment pays an installment's parts unless the loan's product says
# otherwise (api.md §4 rule 4).
DEFAULT_ORDER = ("interest", "principal", "penalty")


def apply_payment(
    installments: list[Installment],
    parts: list[InstallmentPayment],
    order: tuple[str, ...] = DEFAULT_ORDER,
) -> list[InstallmentChange]:
    """The installments' new amounts and statuses after a payment. Refuses a part that pays an
    installment already paid, more principal or interest than it still owes, negative money, a
    discount above the interest it pays, or a part out of the loan's allocation `order` (a later
    part paid while an earlier one is still owed). What penalty is owed the payment service
    computed; it is not checked here."""
    by_number = {i.installment_number: i for i in installments}
    changes = []
    for part in parts:
        target = by_number.get(part.installment_number)
        if target is None:
            raise business_rule(
                f"Loan has no installment {part.installment_number}", "INSTALLMENT_NOT_PAYABLE"
            )
        owed = {
            "interest": target.interest_amount - target.interest_paid,
            "principal": target.principal_amount - target.principal_paid,
        }
        paid = {
            "interest": part.interest_paid,
            "principal": part.principal_paid,
            "penalty": part.penalty_paid,
        }
        if (
            target.is_settled
            or min(*paid.values(), part.discount_applied) < ZERO
            or any(paid[name] > owed[name] for name in owed)
            # A discount reduces interest paid (api.md §4 rule 4): never more than it.
            or part.discount_applied > part.interest_paid
            or _out_of_order(order, owed, paid)
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
                target.principal_paid + part.principal_paid,
                target.interest_paid + part.interest_paid,
            )
        )
    return changes


def _out_of_order(
    order: tuple[str, ...], owed: dict[str, Decimal], paid: dict[str, Decimal]
) -> bool:
    """Whether money went to a part while a part before it in `order` stays owed."""
    for position, earlier in enumerate(order):
        if earlier not in owed:
            continue  # the penalty owed is the payment service's to know
        later_paid = any(paid[later] > ZERO for later in order[position + 1 :])
        if later_paid and paid[earlier] < owed[earlier]:
            return True
    return False


def is_paid_off(installments: list[Installment], changes: list[InstallmentChange]) -> bool:
    changed = {c.installment_number: c.status for c in changes}
    return all(
        changed.get(i.installment_number, i.status) == InstallmentStatus.PAID for i in installments
    )
