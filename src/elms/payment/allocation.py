"""What a payment owes and where its money goes (api.md §4 rules 1–5), pure and exact.

Every amount is a Decimal of two places; the discount and the penalty are each rounded half-up
to the cent once, through `cents()`, and everything else is sums and differences of cents.
The choices the spec leaves open are written down in docs/payment-allocation.md.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType

from elms.core.errors import business_rule
from elms.core.money import ZERO, cents
from elms.core.payoff import PayoffItem, quote_payoff
from elms.core.penalty import PenaltyBalance, PenaltyTerms

# The loan service's installment statuses that still owe money (rule 1).
UNPAID_STATUSES = frozenset({"PENDING", "OVERDUE", "PARTIALLY_PAID"})


class PaymentMethod(StrEnum):
    BANK_TRANSFER = "BANK_TRANSFER"
    DEBIT_CARD = "DEBIT_CARD"
    CREDIT_CARD = "CREDIT_CARD"
    ACH = "ACH"
    WIRE = "WIRE"
    CASH = "CASH"
    CHECK = "CHECK"


def _no_fees() -> Mapping[PaymentMethod, Decimal]:
    return MappingProxyType(dict.fromkeys(PaymentMethod, ZERO))


PARTS = ("interest", "principal", "penalty")


def allocation_order(name: str) -> tuple[str, ...]:
    """An allocation order as a product names it (`PENALTY_INTEREST_PRINCIPAL`) as the parts in
    the order a partial payment pays them."""
    parts = tuple(name.lower().split("_"))
    if sorted(parts) != sorted(PARTS):
        raise ValueError(f"unknown allocation order {name!r}")
    return parts


@dataclass(frozen=True)
class Terms:
    """The configurable part of rules 1, 2 and 5. Rates are per day, shares are of the
    installment's remaining principal and interest, fees are fixed amounts per payment."""

    discount_rate_per_day: Decimal = Decimal("0.001")
    penalty_rate_per_day: Decimal = Decimal("0.001")
    grace_period_days: int = 0
    penalty_cap_share: Decimal | None = None
    horizon_months: int = 3
    processing_fees: Mapping[PaymentMethod, Decimal] = field(default_factory=_no_fees)
    # The order in which a partial payment pays an installment's parts (the loan's product).
    allocation_order: tuple[str, ...] = PARTS

    def __post_init__(self) -> None:
        if sorted(self.allocation_order) != sorted(PARTS):
            raise ValueError(f"allocation order must order {PARTS}")
        numbers = (
            self.discount_rate_per_day,
            self.penalty_rate_per_day,
            self.grace_period_days,
            self.horizon_months,
            ZERO if self.penalty_cap_share is None else self.penalty_cap_share,
            *self.processing_fees.values(),
        )
        if min(numbers) < 0:
            raise ValueError("payment terms cannot be negative")

    @property
    def penalty_terms(self) -> PenaltyTerms:
        return PenaltyTerms(
            self.penalty_rate_per_day, self.grace_period_days, self.penalty_cap_share
        )


DEFAULT_TERMS = Terms()


@dataclass(frozen=True)
class OpenInstallment:
    """An installment as the loan service reports it: what it still owes of its principal and
    interest, and its late penalty as a balance (elms.core.penalty): frozen at the last change,
    on `penalty_frozen_on`, and what was paid or waived of it (which the cap counts)."""

    number: int
    due_date: date
    status: str
    principal_remaining: Decimal
    interest_remaining: Decimal
    total_amount: Decimal | None = None  # scheduled principal + interest; None: what remains
    penalty_outstanding: Decimal = ZERO
    penalty_frozen_on: date | None = None
    penalty_settled: Decimal = ZERO
    # Its scheduled interest (less any waived): a payoff's pro rata is a share of it.
    interest_amount: Decimal | None = None

    @property
    def remaining(self) -> Decimal:
        return self.principal_remaining + self.interest_remaining

    @property
    def penalty(self) -> PenaltyBalance:
        return PenaltyBalance(
            due_date=self.due_date,
            total=self.remaining if self.total_amount is None else self.total_amount,
            unpaid=self.remaining,
            frozen=self.penalty_outstanding,
            since=self.penalty_frozen_on,
            settled=self.penalty_settled,
        )


@dataclass(frozen=True)
class Quote:
    """One installment's price on one date (rule 2)."""

    remaining: Decimal
    early_days: int
    late_days: int
    discount: Decimal
    penalty: Decimal

    @property
    def amount_due(self) -> Decimal:
        return self.remaining - self.discount + self.penalty


def quote(installment: OpenInstallment, on: date, terms: Terms = DEFAULT_TERMS) -> Quote:
    """Paid before its due date: discount = cents(remaining × rate × days early), at most the
    interest still owed (the discount reduces interest, rule 4). Paid more than the grace period
    after it: the penalty balance owed that day (elms.core.penalty) — with no partial payment
    before, cents(remaining × rate × days late), every day late counted, at most cents(cap ×
    installment total). On the due date, or within the grace period, neither."""
    days = (installment.due_date - on).days
    early_days, late_days = max(days, 0), max(-days, 0)
    remaining = installment.remaining
    discount = min(
        cents(remaining * terms.discount_rate_per_day * early_days),
        installment.interest_remaining,
    )
    penalty = installment.penalty.owed(on, terms.penalty_terms) if late_days else ZERO
    return Quote(remaining, early_days, late_days, discount, penalty)


@dataclass(frozen=True)
class PaymentWindow:
    early_payment_until: date
    grace_period_until: date
    penalty_starts_from: date


def payment_window(due_date: date, terms: Terms = DEFAULT_TERMS) -> PaymentWindow:
    """The last day with a discount, the last day without a penalty, the first with one."""
    grace_until = due_date + timedelta(days=terms.grace_period_days)
    return PaymentWindow(due_date - timedelta(days=1), grace_until, grace_until + timedelta(days=1))


def horizon_end(on: date, months: int) -> date:
    """`on` plus calendar months, the day clamped to the month's end (Nov 30 + 3 = Feb 28/29)."""
    year, month_index = divmod(on.year * 12 + on.month - 1 + months, 12)
    month = month_index + 1
    return date(year, month, min(on.day, calendar.monthrange(year, month)[1]))


def payable(
    installments: Sequence[OpenInstallment], on: date, terms: Terms = DEFAULT_TERMS
) -> list[OpenInstallment]:
    """Rule 1: the unpaid installments due no later than the horizon after `on`, oldest first."""
    last = horizon_end(on, terms.horizon_months)
    open_ = [i for i in installments if i.status in UNPAID_STATUSES and i.due_date <= last]
    return sorted(open_, key=lambda i: (i.due_date, i.number))


@dataclass(frozen=True)
class InstallmentAllocation:
    """One installment's share of a payment, in the loan service's terms (`InstallmentPayment`)."""

    number: int
    due_date: date
    original_amount: Decimal
    amount_due: Decimal
    principal_paid: Decimal
    interest_paid: Decimal
    penalty_paid: Decimal
    discount_applied: Decimal
    early_days: int
    late_days: int
    # A payoff's: interest of a period not begun, not owed.
    interest_waived: Decimal = ZERO

    @property
    def paid(self) -> Decimal:
        """Cash taken: the schema's `paid = principal + interest + penalty − discount`."""
        return self.principal_paid + self.interest_paid + self.penalty_paid - self.discount_applied

    @property
    def remaining_after(self) -> Decimal:
        """Principal and interest the installment still owes after this payment."""
        return (
            self.original_amount - self.principal_paid - self.interest_paid - self.interest_waived
        )

    @property
    def fully_paid(self) -> bool:
        """Its principal and interest all paid (its penalty may not be)."""
        return self.remaining_after == ZERO

    @property
    def settles(self) -> bool:
        """Nothing left owed on the payment date: principal, interest and penalty (the loan
        service marks it PAID)."""
        return self.fully_paid and self.paid == self.amount_due


@dataclass(frozen=True)
class Allocation:
    rows: tuple[InstallmentAllocation, ...]
    unapplied: Decimal

    @property
    def base_amount(self) -> Decimal:
        """Principal and interest settled (for whole installments, their remaining amounts)."""
        return sum((r.principal_paid + r.interest_paid for r in self.rows), ZERO)

    @property
    def discount_amount(self) -> Decimal:
        return sum((r.discount_applied for r in self.rows), ZERO)

    @property
    def penalty_amount(self) -> Decimal:
        return sum((r.penalty_paid for r in self.rows), ZERO)

    @property
    def final_amount(self) -> Decimal:
        """The money applied: base − discount + penalty, which is also Σ paid."""
        return sum((r.paid for r in self.rows), ZERO)


def allocate(
    installments: Sequence[OpenInstallment],
    on: date,
    offered: Decimal | None,
    numbers: Sequence[int] | None = None,
    partial: bool = False,
    terms: Terms = DEFAULT_TERMS,
) -> Allocation:
    """Spread a payment on `on` over the installments (rules 1–4).

    The candidates are the payable installments, or the explicit `numbers`, which must be the
    oldest payable ones in order (else 422 INSTALLMENT_NOT_PAYABLE). `offered=None` quotes every
    candidate whole. Otherwise candidates are paid whole, oldest first, each for its amount due,
    until one is not covered; with `partial` the rest goes to that one (interest, principal,
    penalty, no discount), else it is `unapplied`. Paying nothing is 422 PAYMENT_AMOUNT_TOO_LOW.
    The result depends only on the arguments, so calculating and then paying agree.
    """
    quotes = [(i, quote(i, on, terms)) for i in _candidates(installments, on, numbers, terms)]
    if offered is None:
        return Allocation(tuple(_whole(i, q) for i, q in quotes), ZERO)
    rows: list[InstallmentAllocation] = []
    left = offered
    for installment, price in quotes:
        if price.amount_due > left:
            break
        rows.append(_whole(installment, price))
        left -= price.amount_due
    if partial and len(rows) < len(quotes) and left > ZERO:
        row = _partial(*quotes[len(rows)], left, terms.allocation_order)
        rows.append(row)
        left -= row.paid
    if not rows:
        needed = quotes[0][1].amount_due
        raise business_rule(
            f"Payment of {offered} does not cover installment {quotes[0][0].number}, "
            f"due {needed} on {on}",
            "PAYMENT_AMOUNT_TOO_LOW",
            amountNeeded=needed,
        )
    return Allocation(tuple(rows), left)


def allocate_payoff(
    installments: Sequence[OpenInstallment],
    on: date,
    offered: Decimal | None,
    disbursed_on: date,
    terms: Terms = DEFAULT_TERMS,
) -> Allocation:
    """Paying the loan off on `on` (docs/servicing.md): every open installment, whatever the
    horizon, for its payoff line (elms.core.payoff), later interest waived; the rest of the offer
    unapplied. Less than the payoff amount is 422 PAYMENT_AMOUNT_TOO_LOW with the amount needed."""
    quote = quote_payoff(
        [_payoff_item(i) for i in installments], on, disbursed_on, terms.penalty_terms
    )
    if not quote.lines:
        raise business_rule(
            "The loan owes nothing to pay off", "INSTALLMENT_NOT_PAYABLE", payableInstallments=[]
        )
    if offered is not None and offered < quote.amount:
        raise business_rule(
            f"Paying the loan off on {on} takes {quote.amount}; {offered} was offered",
            "PAYMENT_AMOUNT_TOO_LOW",
            amountNeeded=quote.amount,
        )
    by_number = {i.number: i for i in installments}
    rows = []
    for line in quote.lines:
        installment = by_number[line.number]
        days = (installment.due_date - on).days
        rows.append(
            InstallmentAllocation(
                number=line.number,
                due_date=line.due_date,
                original_amount=installment.remaining,
                amount_due=line.amount,
                principal_paid=line.principal,
                interest_paid=line.interest,
                penalty_paid=line.penalty,
                discount_applied=ZERO,
                early_days=max(days, 0),
                late_days=max(-days, 0),
                interest_waived=line.interest_waived,
            )
        )
    left = ZERO if offered is None else offered - quote.amount
    return Allocation(tuple(rows), left)


def _payoff_item(installment: OpenInstallment) -> PayoffItem:
    interest = installment.interest_amount
    return PayoffItem(
        number=installment.number,
        due_date=installment.due_date,
        principal_remaining=installment.principal_remaining,
        interest_remaining=installment.interest_remaining,
        interest_amount=installment.interest_remaining if interest is None else interest,
        penalty=installment.penalty,
    )


def _candidates(
    installments: Sequence[OpenInstallment],
    on: date,
    numbers: Sequence[int] | None,
    terms: Terms,
) -> list[OpenInstallment]:
    open_ = payable(installments, on, terms)
    if not open_:
        raise business_rule(
            f"The loan has no installment payable on {on}",
            "INSTALLMENT_NOT_PAYABLE",
            requestedInstallments=list(numbers or []),
            payableInstallments=[],
        )
    if not numbers:
        return open_
    oldest = open_[: len(numbers)]
    if list(numbers) != [i.number for i in oldest]:
        payable_numbers = [i.number for i in open_]
        raise business_rule(
            f"Installments {list(numbers)} cannot be paid on {on}: installments are paid oldest "
            f"first without skipping, and only these are payable: {payable_numbers}",
            "INSTALLMENT_NOT_PAYABLE",
            requestedInstallments=list(numbers),
            payableInstallments=payable_numbers,
        )
    return oldest


def _whole(installment: OpenInstallment, price: Quote) -> InstallmentAllocation:
    return InstallmentAllocation(
        number=installment.number,
        due_date=installment.due_date,
        original_amount=price.remaining,
        amount_due=price.amount_due,
        principal_paid=installment.principal_remaining,
        interest_paid=installment.interest_remaining,
        penalty_paid=price.penalty,
        discount_applied=price.discount,
        early_days=price.early_days,
        late_days=price.late_days,
    )


def _partial(
    installment: OpenInstallment, price: Quote, money: Decimal, order: tuple[str, ...]
) -> InstallmentAllocation:
    # Rule 3: the parts in the product's order (by default interest, then principal, then
    # penalty), and no discount. Whatever penalty the money does not cover stays owed: the
    # installment is not paid until it is (docs/payment-allocation.md).
    owed = {
        "interest": installment.interest_remaining,
        "principal": installment.principal_remaining,
        "penalty": price.penalty,
    }
    paid = {}
    for part in order:
        paid[part] = min(money, owed[part])
        money -= paid[part]
    interest, principal, penalty = paid["interest"], paid["principal"], paid["penalty"]
    return InstallmentAllocation(
        number=installment.number,
        due_date=installment.due_date,
        original_amount=price.remaining,
        amount_due=price.amount_due,
        principal_paid=principal,
        interest_paid=interest,
        penalty_paid=penalty,
        discount_applied=ZERO,
        early_days=price.early_days,
        late_days=price.late_days,
    )


def processing_fee(method: str, terms: Terms = DEFAULT_TERMS) -> Decimal:
    """Rule 5: the fixed fee of the payment method, 0.00 unless configured."""
    return terms.processing_fees.get(PaymentMethod(method), ZERO)


def total_amount(payment_amount: Decimal, method: str, terms: Terms = DEFAULT_TERMS) -> Decimal:
    """Rule 5: totalAmount = paymentAmount + processingFee."""
    return payment_amount + processing_fee(method, terms)
