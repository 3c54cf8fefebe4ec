"""Installment schedules (api.md §3 "Schedule"), pure and exact.

Both methods round each amount half-up to the cent once, and let the last installment absorb
what rounding left, so the rows always add up to the loan amount and the total repayment.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_DOWN, ROUND_HALF_UP, Context, Decimal, localcontext
from enum import StrEnum

from elms.core.money import CENT, ZERO, cents
from elms.loan.products import MAX_INSTALLMENTS

MONTHS_PER_YEAR = 12
# Far more digits than a 13-digit amount times a 24th power of (1 + r) needs, so the only
# rounding that reaches the result is the explicit one to the cent.
_PRECISION = Context(prec=60)


class InterestMethod(StrEnum):
    DECLINING_BALANCE = "DECLINING_BALANCE"
    FLAT = "FLAT"


@dataclass(frozen=True)
class ScheduledInstallment:
    number: int
    due_date: date
    principal: Decimal
    interest: Decimal

    @property
    def total(self) -> Decimal:
        return self.principal + self.interest


@dataclass(frozen=True)
class Schedule:
    installment_amount: Decimal
    installments: tuple[ScheduledInstallment, ...]

    @property
    def total_interest(self) -> Decimal:
        return sum((row.interest for row in self.installments), ZERO)

    @property
    def total_repayment(self) -> Decimal:
        return sum((row.total for row in self.installments), ZERO)

    @property
    def first_due_date(self) -> date:
        return self.installments[0].due_date

    @property
    def maturity_date(self) -> date:
        return self.installments[-1].due_date


def first_of_next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def due_dates(start: date, count: int) -> list[date]:
    """The first day of `count` consecutive months, beginning the month after `start`
    (the disbursement date, or before disbursement the application date)."""
    first = first_of_next_month(start)
    months = [first.year * 12 + first.month - 1 + k for k in range(count)]
    return [date(m // 12, m % 12 + 1, 1) for m in months]


def build_schedule(
    amount: Decimal, annual_rate: Decimal, count: int, method: InterestMethod, start: date
) -> Schedule:
    if not 1 <= count <= MAX_INSTALLMENTS:
        raise ValueError(f"installment count must be between 1 and {MAX_INSTALLMENTS}")
    if amount <= 0 or annual_rate < 0:
        raise ValueError("amount must be positive and rate non-negative")
    dates = due_dates(start, count)
    with localcontext(_PRECISION):
        if method is InterestMethod.FLAT:
            return _flat(amount, annual_rate, count, dates)
        return _declining_balance(amount, annual_rate, count, dates)


def annuity_payment(amount: Decimal, annual_rate: Decimal, count: int) -> Decimal:
    """P·r / (1 − (1 + r)^−n) with r = annual / 12, rounded half-up to the cent."""
    with localcontext(_PRECISION):
        r = annual_rate / MONTHS_PER_YEAR
        if r == 0:
            return cents(amount / count)
        return cents(amount * r / (1 - (1 + r) ** -count))


def _declining_balance(
    amount: Decimal, annual_rate: Decimal, count: int, dates: list[date]
) -> Schedule:
    r = annual_rate / MONTHS_PER_YEAR
    payment = annuity_payment(amount, annual_rate, count)
    outstanding = amount
    rows = []
    for number, due in enumerate(dates, start=1):
        interest = cents(outstanding * r)
        if number == count:
            principal = outstanding
        else:
            # For amounts of a few cents, rounding can make the payment cover less than the
            # interest or more than what is left; principal stays within [0, outstanding].
            principal = min(max(payment - interest, ZERO), outstanding)
        outstanding -= principal
        rows.append(ScheduledInstallment(number, due, principal, interest))
    return Schedule(payment, tuple(rows))


def _flat(amount: Decimal, annual_rate: Decimal, count: int, dates: list[date]) -> Schedule:
    interest = cents(amount * annual_rate * count / MONTHS_PER_YEAR)
    total = amount + interest
    payment = cents(total / count)
    if payment * (count - 1) > total:
        # Only for totals of a few cents per installment: rounding up would leave the last
        # installment negative, so the equal installments are rounded down instead.
        payment = (total / count).quantize(CENT, rounding=ROUND_DOWN)
    totals = [payment] * (count - 1) + [total - payment * (count - 1)]
    # Split each installment in the loan's proportion of principal to total. Rounding the
    # running sums (not each row) keeps every row's principal and interest ≥ 0 and makes the
    # last running sum land exactly on the loan amount.
    rows = []
    paid_total = paid_principal = ZERO
    for number, (due, row_total) in enumerate(zip(dates, totals, strict=True), start=1):
        paid_total += row_total
        principal_so_far = (paid_total * amount / total).quantize(CENT, rounding=ROUND_HALF_UP)
        principal = principal_so_far - paid_principal
        paid_principal = principal_so_far
        rows.append(ScheduledInstallment(number, due, principal, row_total - principal))
    return Schedule(payment, tuple(rows))
