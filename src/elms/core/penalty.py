"""Late penalties as balances, and days past due: pure and exact.

An installment paid late owes a penalty on its unpaid principal and interest at the product's
daily rate, for every day late once it is more than the grace period late, capped (if the
product says so) at a share of the installment. A penalty is a balance, not a price: when the
unpaid amount changes (a partial payment, a reversal, a waiver), what accrued so far is rounded
to the cent once and frozen into `frozen`, and accrual continues on the new unpaid amount from
that day. So a partial payment can never drop a penalty, and with no change the penalty on day D
is exactly `cents(unpaid × rate × days late)`, the rule ELMS had before balances.

Choices the rules leave open (docs/decisions.md, penalties):
- **The grace period forgives, it does not shift.** On a day within it nothing is owed; once
  past it every day late counts, from the due date. What accrued within the grace period before
  a change is kept (frozen) and becomes owed only if the installment is still unpaid once the
  grace period is over: paying a cent on the last day of grace does not move the penalty's start.
  Paying the whole installment within grace forgives it.
- **The cap bounds all the penalty an installment is ever charged** (paid, waived and owed
  together), at `cents(cap × installment total)`.

Used by the loan service, which keeps each installment's balance, and the payment service, which
prices a payment on a date from the balance the loan service reports."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal

from elms.core.money import ZERO, cents


@dataclass(frozen=True)
class PenaltyTerms:
    rate_per_day: Decimal
    grace_days: int = 0
    cap_ratio: Decimal | None = None  # a share of the installment's total; None: no cap

    def __post_init__(self) -> None:
        if self.rate_per_day < 0 or self.grace_days < 0 or (self.cap_ratio or ZERO) < 0:
            raise ValueError(f"penalty terms cannot be negative: {self}")


class PenaltyTooLarge(ValueError):
    """More penalty paid or waived than the installment owes on that day."""


@dataclass(frozen=True)
class PenaltyBalance:
    """One installment's penalty: what is owed of it on any day follows from these."""

    due_date: date
    total: Decimal  # the installment's scheduled principal + interest (the cap's base)
    unpaid: Decimal  # principal and interest still owed
    frozen: Decimal = ZERO  # accrued up to `since`, rounded when frozen, neither paid nor waived
    since: date | None = None  # the day accrual restarted (the last change); None: the due date
    settled: Decimal = ZERO  # penalty paid or waived so far

    def _start(self) -> date:
        return max(self.since or self.due_date, self.due_date)

    def accrued(self, on: date, terms: PenaltyTerms) -> Decimal:
        """Everything accrued up to `on`, frozen or not (before the grace period and the cap)."""
        days = max((on - self._start()).days, 0)
        return self.frozen + cents(self.unpaid * terms.rate_per_day * days)

    def owed(self, on: date, terms: PenaltyTerms) -> Decimal:
        """The penalty owed on `on`: nothing within the grace period, else what accrued, within
        what the cap leaves."""
        if (on - self.due_date).days <= terms.grace_days:
            return ZERO
        return min(self.accrued(on, terms), self._cap_room(terms))

    def _cap_room(self, terms: PenaltyTerms) -> Decimal:
        if terms.cap_ratio is None:
            return Decimal("Infinity")
        return max(cents(self.total * terms.cap_ratio) - self.settled, ZERO)

    def changed(
        self,
        on: date,
        terms: PenaltyTerms,
        principal_interest_paid: Decimal,
        penalty_paid: Decimal = ZERO,
        waived: Decimal = ZERO,
    ) -> PenaltyBalance:
        """The balance after money (or a waiver) reaches the installment on `on`: what accrued is
        frozen, less the penalty paid and waived, and accrual goes on from `on` on what is left
        unpaid. Paying or waiving more penalty than is owed that day is refused."""
        if min(principal_interest_paid, penalty_paid, waived) < 0:
            raise ValueError("amounts paid or waived cannot be negative")
        if self.since is not None and self.due_date < self.since and on < self.since:
            # Accrual up to `since` is frozen already: a change dated before it would count
            # those days twice. Changes come in date order (payments are never backdated
            # before the last one applied); before the due date nothing accrues either way.
            raise ValueError(f"a change on {on} comes before the last one, on {self.since}")
        if principal_interest_paid > self.unpaid:
            raise ValueError("more principal and interest paid than the installment owes")
        owed = self.owed(on, terms)
        if penalty_paid + waived > owed:
            raise PenaltyTooLarge(f"the installment owes {owed} of penalty on {on}")
        unpaid = self.unpaid - principal_interest_paid
        if (on - self.due_date).days <= terms.grace_days:
            # Kept for if it is still unpaid after the grace period; forgiven once it is paid.
            frozen = min(self.accrued(on, terms), self._cap_room(terms)) if unpaid > 0 else ZERO
        else:
            frozen = owed - penalty_paid - waived
        return replace(
            self,
            unpaid=unpaid,
            frozen=frozen,
            since=max(on, self.due_date),
            settled=self.settled + penalty_paid + waived,
        )

    def settled_in_full(self, on: date, terms: PenaltyTerms) -> bool:
        """Nothing owed on `on`: principal, interest and penalty all paid or waived."""
        return self.unpaid == ZERO and self.owed(on, terms) == ZERO


def days_past_due(unpaid_due_dates: Iterable[date], on: date) -> int:
    """A loan's days past due on `on`: days since the due date of its oldest installment not
    fully paid (penalty included), if that date is before `on`; else 0."""
    oldest = min(unpaid_due_dates, default=None)
    return max((on - oldest).days, 0) if oldest is not None else 0
