"""What it takes to close a loan on a date (payoff, foreclosure): pure and exact.

On date D a loan's payoff is every unpaid principal; the unpaid interest of installments due on
or before D; the current period's interest pro rata — the interest of the first installment due
after D × the days from the previous due date (or the disbursement) to D ÷ the days of that
period, rounded half-up to the cent, less what was already paid of it; and every penalty owed
on D (elms.core.penalty). Interest of later periods is not owed: it is waived, and said so, line
by line. No early-payment discount applies (the waived interest is the borrower's gain) and
ELMS charges no payoff fee (`fees` 0.00; a payment's processing fee is the payment method's).

Used by the loan service (the quote, and the check of a payoff applied) and the payment service
(pricing the payment), so both compute it from the same code."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from elms.core.money import ZERO, cents
from elms.core.penalty import PenaltyBalance, PenaltyTerms


@dataclass(frozen=True)
class PayoffItem:
    """One installment as it stands: what is unpaid of its principal and interest, its
    scheduled interest, and its penalty balance."""

    number: int
    due_date: date
    principal_remaining: Decimal
    interest_remaining: Decimal
    interest_amount: Decimal
    penalty: PenaltyBalance

    @property
    def interest_paid(self) -> Decimal:
        return self.interest_amount - self.interest_remaining


@dataclass(frozen=True)
class PayoffLine:
    """What paying off takes of one open installment, and the interest it waives."""

    number: int
    due_date: date
    principal: Decimal
    interest: Decimal
    penalty: Decimal
    interest_waived: Decimal

    @property
    def amount(self) -> Decimal:
        return self.principal + self.interest + self.penalty


@dataclass(frozen=True)
class PayoffQuote:
    on: date
    lines: tuple[PayoffLine, ...]
    fees: Decimal = ZERO

    @property
    def principal(self) -> Decimal:
        return sum((line.principal for line in self.lines), ZERO)

    @property
    def interest(self) -> Decimal:
        return sum((line.interest for line in self.lines), ZERO)

    @property
    def penalty(self) -> Decimal:
        return sum((line.penalty for line in self.lines), ZERO)

    @property
    def interest_waived(self) -> Decimal:
        return sum((line.interest_waived for line in self.lines), ZERO)

    @property
    def amount(self) -> Decimal:
        return self.principal + self.interest + self.penalty + self.fees


def quote_payoff(
    items: Sequence[PayoffItem], on: date, disbursed_on: date, terms: PenaltyTerms
) -> PayoffQuote:
    """The payoff on `on` of a loan disbursed on `disbursed_on`, from all its installments
    (paid ones included: the current period is found among them all)."""
    ordered = sorted(items, key=lambda i: (i.due_date, i.number))
    current = next((i for i in ordered if i.due_date > on), None)
    lines = []
    for position, item in enumerate(ordered):
        owes = item.principal_remaining + item.interest_remaining > ZERO
        penalty = item.penalty.owed(on, terms) if item.due_date < on else ZERO
        if not owes and penalty == ZERO:
            continue
        if item.due_date <= on:
            interest = item.interest_remaining
        elif item is current:
            start = ordered[position - 1].due_date if position else disbursed_on
            interest = min(_accrued(item, start, on), item.interest_remaining)
        else:
            interest = ZERO
        lines.append(
            PayoffLine(
                number=item.number,
                due_date=item.due_date,
                principal=item.principal_remaining,
                interest=interest,
                penalty=penalty,
                interest_waived=item.interest_remaining - interest,
            )
        )
    return PayoffQuote(on, tuple(lines))


def _accrued(item: PayoffItem, start: date, on: date) -> Decimal:
    """The period's interest earned by `on`, less what was paid of it already."""
    period = (item.due_date - start).days
    elapsed = min(max((on - start).days, 0), period)
    earned = cents(item.interest_amount * elapsed / period) if period > 0 else item.interest_amount
    return max(earned - item.interest_paid, ZERO)
