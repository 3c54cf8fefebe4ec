"""The loan's rules, pure: its lifecycle, its installments' statuses, applying a payment."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from elms.core.errors import business_rule
from elms.core.money import ZERO
from elms.core.payoff import PayoffItem
from elms.core.penalty import PenaltyBalance, PenaltyTerms, PenaltyTooLarge


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
    # The late penalty as a balance (elms.core.penalty): frozen at the last change of the unpaid
    # amount, on `penalty_frozen_on`; and what officers waived.
    penalty_outstanding: Decimal = ZERO
    penalty_frozen_on: date | None = None
    penalty_waived: Decimal = ZERO
    # Interest of a period not begun, waived when the loan was paid off.
    interest_waived: Decimal = ZERO

    @property
    def interest_remaining(self) -> Decimal:
        return self.interest_amount - self.interest_paid - self.interest_waived

    @property
    def remaining(self) -> Decimal:
        """Principal and interest still owed (the penalty is a balance of its own)."""
        return self.total_amount if self.remaining_amount is None else self.remaining_amount

    @property
    def is_settled(self) -> bool:
        return self.status == InstallmentStatus.PAID

    @property
    def penalty(self) -> PenaltyBalance:
        return PenaltyBalance(
            due_date=self.due_date,
            total=self.total_amount,
            unpaid=self.remaining,
            frozen=self.penalty_outstanding,
            since=self.penalty_frozen_on,
            settled=self.penalty_applied + self.penalty_waived,
        )

    @property
    def payoff_item(self) -> PayoffItem:
        return PayoffItem(
            number=self.installment_number,
            due_date=self.due_date,
            principal_remaining=self.principal_amount - self.principal_paid,
            interest_remaining=self.interest_remaining,
            interest_amount=self.interest_amount - self.interest_waived,
            penalty=self.penalty,
        )

    def penalty_owed(self, on: date, terms: PenaltyTerms) -> Decimal:
        return ZERO if self.is_settled else self.penalty.owed(on, terms)

    def amount_owed(self, on: date, terms: PenaltyTerms) -> Decimal:
        """Principal, interest and penalty owed on `on` (before any early discount)."""
        return ZERO if self.is_settled else self.remaining + self.penalty_owed(on, terms)


@dataclass(frozen=True)
class InstallmentPayment:
    """One installment's share of a payment, as the payment service allocated it."""

    installment_number: int
    principal_paid: Decimal
    interest_paid: Decimal
    penalty_paid: Decimal
    discount_applied: Decimal
    # Paying off: interest of a period not begun, not owed (checked against the payoff quote).
    interest_waived: Decimal = ZERO

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
    penalty_outstanding: Decimal
    penalty_frozen_on: date | None
    penalty_waived: Decimal
    interest_waived: Decimal = ZERO


# The order a partial payment pays an installment's parts unless the loan's product says
# otherwise (api.md §4 rule 4).
DEFAULT_ORDER = ("interest", "principal", "penalty")


def apply_payment(
    installments: list[Installment],
    parts: list[InstallmentPayment],
    on: date,
    terms: PenaltyTerms,
    order: tuple[str, ...] = DEFAULT_ORDER,
) -> list[InstallmentChange]:
    """The installments' new amounts, penalty balances and statuses after a payment on `on`.
    Refuses a part that pays an installment already paid, more of a part than it owes that day
    (the penalty included), negative money, a discount above the interest it pays, or a part out
    of the loan's allocation `order` (a later part paid while an earlier one is still owed). An
    installment is PAID only once its principal, interest and penalty are all paid or waived."""
    by_number = {i.installment_number: i for i in installments}
    changes = []
    for part in parts:
        target = by_number.get(part.installment_number)
        if target is None:
            raise business_rule(
                f"Loan has no installment {part.installment_number}", "INSTALLMENT_NOT_PAYABLE"
            )
        refused = business_rule(
            f"Installment {part.installment_number} cannot take this payment",
            "INSTALLMENT_NOT_PAYABLE",
        )
        if target.is_settled:
            raise refused
        owed = {
            "interest": target.interest_remaining,
            "principal": target.principal_amount - target.principal_paid,
            "penalty": target.penalty.owed(on, terms),
        }
        paid = {
            # Interest waived settles that interest as paying it would.
            "interest": part.interest_paid + part.interest_waived,
            "principal": part.principal_paid,
            "penalty": part.penalty_paid,
        }
        if (
            min(*paid.values(), part.discount_applied, part.interest_waived) < ZERO
            or any(paid[name] > owed[name] for name in owed)
            # A discount reduces interest paid (api.md §4 rule 4): never more than it.
            or part.discount_applied > part.interest_paid
            or _out_of_order(order, owed, paid)
        ):
            raise refused
        try:
            balance = target.penalty.changed(
                on,
                terms,
                part.principal_paid + part.interest_paid + part.interest_waived,
                part.penalty_paid,
            )
        except (PenaltyTooLarge, ValueError) as error:
            raise business_rule(
                f"Installment {part.installment_number} cannot take this payment: {error}",
                "INSTALLMENT_NOT_PAYABLE",
            ) from error
        changes.append(
            _changed(
                target,
                balance,
                on,
                terms,
                paid_amount=target.paid_amount + part.cash,
                discount_applied=target.discount_applied + part.discount_applied,
                principal_paid=target.principal_paid + part.principal_paid,
                interest_paid=target.interest_paid + part.interest_paid,
                penalty_applied=target.penalty_applied + part.penalty_paid,
                penalty_waived=target.penalty_waived,
                paying=True,
                interest_waived=target.interest_waived + part.interest_waived,
            )
        )
    return changes


def _changed(
    target: Installment,
    balance: PenaltyBalance,
    on: date,
    terms: PenaltyTerms,
    *,
    paid_amount: Decimal,
    discount_applied: Decimal,
    principal_paid: Decimal,
    interest_paid: Decimal,
    penalty_applied: Decimal,
    penalty_waived: Decimal,
    paying: bool,
    interest_waived: Decimal | None = None,
) -> InstallmentChange:
    if balance.settled_in_full(on, terms):
        status = InstallmentStatus.PAID
    elif paying:
        status = InstallmentStatus.PARTIALLY_PAID
    else:
        status = InstallmentStatus(target.status)
    return InstallmentChange(
        target.installment_number,
        status,
        paid_amount,
        discount_applied,
        penalty_applied,
        balance.unpaid,
        principal_paid,
        interest_paid,
        # Paid in full within the grace period, what accrued is forgiven.
        ZERO if status == InstallmentStatus.PAID else balance.frozen,
        balance.since,
        penalty_waived,
        target.interest_waived if interest_waived is None else interest_waived,
    )


class WaiverTooLarge(Exception):
    def __init__(self, owed: Decimal) -> None:
        self.owed = owed


class WaiverBeforeLastChange(Exception):
    """The installment changed after the waiver's date (its penalty was frozen later)."""


def waive_penalty(
    target: Installment, amount: Decimal | None, on: date, terms: PenaltyTerms
) -> tuple[InstallmentChange, Decimal]:
    """An officer waives `amount` of the penalty the installment owes on `on` (all of it when
    None): the change and the amount waived. More than is owed raises WaiverTooLarge."""
    owed = target.penalty_owed(on, terms)
    waived = owed if amount is None else amount
    if waived > owed or waived <= ZERO:
        raise WaiverTooLarge(owed)
    try:
        balance = target.penalty.changed(on, terms, ZERO, ZERO, waived)
    except ValueError as error:
        raise WaiverBeforeLastChange(str(error)) from error
    change = _changed(
        target,
        balance,
        on,
        terms,
        paid_amount=target.paid_amount,
        discount_applied=target.discount_applied,
        principal_paid=target.principal_paid,
        interest_paid=target.interest_paid,
        penalty_applied=target.penalty_applied,
        penalty_waived=target.penalty_waived + waived,
        paying=False,
    )
    return change, waived


def _out_of_order(
    order: tuple[str, ...], owed: dict[str, Decimal], paid: dict[str, Decimal]
) -> bool:
    """Whether money went to a part while a part before it in `order` stays owed."""
    for position, earlier in enumerate(order):
        later_paid = any(paid[later] > ZERO for later in order[position + 1 :])
        if later_paid and paid[earlier] < owed[earlier]:
            return True
    return False


def is_paid_off(installments: list[Installment], changes: list[InstallmentChange]) -> bool:
    changed = {c.installment_number: c.status for c in changes}
    return all(
        changed.get(i.installment_number, i.status) == InstallmentStatus.PAID for i in installments
    )
