"""Penalties as balances (elms.core.penalty): with no change they are the old rule exactly; a
change never lowers what is charged; grace forgives but does not shift; the cap bounds all that
is ever charged; days past due are their definition."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from elms.core.money import ZERO, cents
from elms.core.penalty import PenaltyBalance, PenaltyTerms, PenaltyTooLarge, days_past_due

DUE = date(2026, 3, 1)
CENT = Decimal("0.01")

money = st.decimals(Decimal("0.01"), Decimal("100000.00"), places=2)
terms_drawn = st.builds(
    PenaltyTerms,
    rate_per_day=st.decimals(Decimal("0"), Decimal("0.01"), places=6),
    grace_days=st.integers(0, 15),
    cap_ratio=st.none() | st.decimals(Decimal("0"), Decimal("1"), places=6),
)
days = st.integers(-60, 400)


def _cap(balance: PenaltyBalance, terms: PenaltyTerms) -> Decimal:
    return (
        Decimal("Infinity") if terms.cap_ratio is None else cents(balance.total * terms.cap_ratio)
    )


@given(total=money, terms=terms_drawn, late=days)
def test_with_no_change_the_penalty_is_the_old_rule_exactly(total, terms, late):
    balance = PenaltyBalance(DUE, total, total)
    on = DUE + timedelta(days=late)
    expected = ZERO
    if late > terms.grace_days:
        expected = min(cents(total * terms.rate_per_day * late), _cap(balance, terms))
    assert balance.owed(on, terms) == expected


@st.composite
def histories(draw):
    """An installment, its terms, and payments on increasing days, each paying some principal
    and interest and some of the penalty owed that day."""
    total = draw(money)
    terms = draw(terms_drawn)
    balance = PenaltyBalance(DUE, total, total)
    day = DUE + timedelta(days=draw(st.integers(-30, 30)))
    steps = []
    for _ in range(draw(st.integers(1, 6))):
        day += timedelta(days=draw(st.integers(0, 60)))
        owed = balance.owed(day, terms)
        paid = draw(st.decimals(ZERO, balance.unpaid, places=2))
        penalty = draw(st.decimals(ZERO, owed, places=2)) if owed > 0 else ZERO
        steps.append((day, paid, penalty))
        balance = balance.changed(day, terms, paid, penalty)
    return total, terms, steps


@given(histories(), st.integers(0, 200))
def test_paying_never_lowers_the_penalty_paid_plus_owed(history, later):
    total, terms, steps = history
    balance = PenaltyBalance(DUE, total, total)
    for day, paid, penalty in steps:
        before = balance.settled + balance.owed(day, terms)
        balance = balance.changed(day, terms, paid, penalty)
        assert balance.settled + balance.owed(day, terms) == before
        assert balance.frozen >= 0 and balance.settled >= 0
    last = steps[-1][0]
    # Time only adds (or, within grace, keeps nothing owed).
    assert balance.owed(last + timedelta(days=later), terms) >= balance.owed(last, terms) or (
        (last - DUE).days <= terms.grace_days
    )
    assert balance.settled + balance.owed(last + timedelta(days=later), terms) <= _cap(
        balance, terms
    )


@given(histories())
def test_settled_in_full_only_with_every_part_paid_or_waived(history):
    total, terms, steps = history
    balance = PenaltyBalance(DUE, total, total)
    for day, paid, penalty in steps:
        balance = balance.changed(day, terms, paid, penalty)
        assert balance.settled_in_full(day, terms) == (
            balance.unpaid == 0 and balance.owed(day, terms) == 0
        )


@given(total=money, terms=terms_drawn, cent_on=st.integers(0, 15), later=st.integers(1, 300))
def test_a_cent_paid_within_grace_does_not_move_the_penalty_start(total, terms, cent_on, later):
    assume(cent_on <= terms.grace_days and total > CENT)
    balance = PenaltyBalance(DUE, total, total).changed(DUE + timedelta(days=cent_on), terms, CENT)
    on = DUE + timedelta(days=terms.grace_days + later)
    left = total - CENT
    from_due = cents(left * terms.rate_per_day * (on - DUE).days)
    assert balance.owed(on, terms) >= min(from_due, _cap(balance, terms)) - CENT


def test_paying_the_whole_installment_within_grace_forgives_the_penalty():
    terms = PenaltyTerms(Decimal("0.001"), grace_days=5)
    balance = PenaltyBalance(DUE, Decimal("100.00"), Decimal("100.00"))
    paid = balance.changed(DUE + timedelta(days=4), terms, Decimal("100.00"))
    assert paid.settled_in_full(DUE + timedelta(days=40), terms)


def test_a_partial_payment_freezes_the_penalty_and_accrual_goes_on_on_the_rest():
    terms = PenaltyTerms(Decimal("0.001"))
    balance = PenaltyBalance(DUE, Decimal("1000.00"), Decimal("1000.00"))
    # 10 days late: 10.00 accrued; 600.00 of principal and interest paid, 4.00 of the penalty.
    after = balance.changed(DUE + timedelta(days=10), terms, Decimal("600.00"), Decimal("4.00"))
    assert (after.frozen, after.unpaid, after.settled) == (
        Decimal("6.00"),
        Decimal("400.00"),
        Decimal("4.00"),
    )
    # 20 days later: 6.00 + 400.00 × 0.001 × 20 = 14.00.
    assert after.owed(DUE + timedelta(days=30), terms) == Decimal("14.00")
    # Principal and interest paid in full leave the penalty owed, and it stops growing.
    done = after.changed(DUE + timedelta(days=30), terms, Decimal("400.00"))
    assert done.owed(DUE + timedelta(days=90), terms) == Decimal("14.00")
    assert not done.settled_in_full(DUE + timedelta(days=90), terms)
    waived = done.changed(DUE + timedelta(days=90), terms, ZERO, waived=Decimal("14.00"))
    assert waived.settled_in_full(DUE + timedelta(days=90), terms)


def test_more_penalty_than_is_owed_cannot_be_paid_or_waived():
    terms = PenaltyTerms(Decimal("0.001"))
    balance = PenaltyBalance(DUE, Decimal("100.00"), Decimal("100.00"))
    with pytest.raises(PenaltyTooLarge):
        balance.changed(DUE + timedelta(days=10), terms, ZERO, waived=Decimal("1.01"))


def test_the_cap_bounds_everything_ever_charged():
    terms = PenaltyTerms(Decimal("0.01"), cap_ratio=Decimal("0.05"))  # at most 5.00 of 100.00
    balance = PenaltyBalance(DUE, Decimal("100.00"), Decimal("100.00"))
    paid = balance.changed(DUE + timedelta(days=3), terms, ZERO, Decimal("3.00"))
    assert paid.owed(DUE + timedelta(days=300), terms) == Decimal("2.00")


def test_what_is_kept_within_grace_is_within_the_cap_too():
    # 10 days' grace at 1% a day, capped at 5.00 of 100.00: a cent paid on day 9 keeps 9.00
    # accrued, of which 5.00 may ever be owed.
    terms = PenaltyTerms(Decimal("0.01"), grace_days=10, cap_ratio=Decimal("0.05"))
    balance = PenaltyBalance(DUE, Decimal("100.00"), Decimal("100.00"))
    kept = balance.changed(DUE + timedelta(days=9), terms, CENT)
    assert kept.frozen == Decimal("5.00")
    assert kept.owed(DUE + timedelta(days=11), terms) == Decimal("5.00")


@given(st.lists(st.integers(-400, 400), max_size=12), st.integers(-10, 10))
def test_days_past_due_are_days_since_the_oldest_unpaid_due_date(offsets, shift):
    on = DUE + timedelta(days=shift)
    dates = [DUE + timedelta(days=o) for o in offsets]
    expected = max((on - min(dates)).days, 0) if dates else 0
    assert days_past_due(dates, on) == expected


def test_a_change_dated_before_the_last_one_is_refused():
    terms = PenaltyTerms(Decimal("0.001"))
    balance = PenaltyBalance(DUE, Decimal("1000.00"), Decimal("1000.00"))
    later = balance.changed(DUE + timedelta(days=20), terms, Decimal("100.00"))
    with pytest.raises(ValueError, match="comes before the last one"):
        later.changed(DUE + timedelta(days=10), terms, Decimal("100.00"))
