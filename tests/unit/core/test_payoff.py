"""The payoff of a loan on a date (elms.core.payoff) against an independent reading of its
definition: unpaid principal, interest due by then, the current period's interest pro rata, the
penalties owed; later interest waived, line by line."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from elms.core.money import ZERO
from elms.core.payoff import PayoffItem, quote_payoff
from elms.core.penalty import PenaltyBalance, PenaltyTerms
from elms.loan.schedule import InterestMethod, build_schedule

DISBURSED = date(2026, 1, 10)


def _items(amount: Decimal, count: int, method: InterestMethod) -> list[PayoffItem]:
    rows = build_schedule(amount, Decimal("0.12"), count, method, DISBURSED).installments
    return [
        PayoffItem(
            r.number,
            r.due_date,
            r.principal,
            r.interest,
            r.interest,
            PenaltyBalance(r.due_date, r.total, r.total),
        )
        for r in rows
    ]


def _half_up(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), ROUND_HALF_UP)


def test_a_worked_example():
    # 1,200.00 at 12% over 3 months, declining balance; paid off on 16 February, 15 days into the
    # second period (1 Feb – 1 Mar, 28 days): the first installment is 15 days late.
    items = _items(Decimal("1200.00"), 3, InterestMethod.DECLINING_BALANCE)
    terms = PenaltyTerms(Decimal("0.001"))
    on = date(2026, 2, 16)
    quote = quote_payoff(items, on, DISBURSED, terms)
    first, second, third = items
    assert [line.number for line in quote.lines] == [1, 2, 3]
    assert quote.principal == Decimal("1200.00")
    prorated = _half_up(second.interest_amount * 15 / 28)
    assert quote.interest == first.interest_amount + prorated
    assert quote.penalty == _half_up(
        (first.principal_remaining + first.interest_amount) / 1000 * 15
    )
    assert quote.interest_waived == second.interest_amount - prorated + third.interest_amount
    assert quote.amount == quote.principal + quote.interest + quote.penalty


@settings(max_examples=300, deadline=None)
@given(
    amount=st.decimals(Decimal("1.00"), Decimal("1000000.00"), places=2),
    count=st.sampled_from([1, 3, 6, 12, 24]),
    method=st.sampled_from(list(InterestMethod)),
    rate=st.decimals(Decimal("0"), Decimal("0.01"), places=4),
    days=st.integers(0, 900),
)
def test_the_payoff_is_its_definition_for_a_loan_never_paid(amount, count, method, rate, days):
    items = _items(amount, count, method)
    terms = PenaltyTerms(rate)
    on = DISBURSED + timedelta(days=days)
    quote = quote_payoff(items, on, DISBURSED, terms)

    due = [i for i in items if i.due_date <= on]
    later = [i for i in items if i.due_date > on]
    interest = sum((i.interest_amount for i in due), ZERO)
    if later:
        current = later[0]
        start = due[-1].due_date if due else DISBURSED
        interest += _half_up(
            current.interest_amount
            * Decimal((on - start).days)
            / Decimal((current.due_date - start).days)
        )
    penalty = sum(
        (
            _half_up((i.principal_remaining + i.interest_amount) * rate * (on - i.due_date).days)
            for i in due
            if i.due_date < on
        ),
        ZERO,
    )
    assert quote.principal == amount
    assert quote.interest == interest
    assert quote.penalty == penalty
    assert quote.amount == amount + interest + penalty
    # What is not owed of the interest is waived, to the cent.
    assert quote.interest + quote.interest_waived == sum((i.interest_amount for i in items), ZERO)
    assert all(line.interest_waived >= ZERO for line in quote.lines)


def test_paid_installments_owe_nothing_and_interest_paid_early_counts():
    items = _items(Decimal("1200.00"), 3, InterestMethod.DECLINING_BALANCE)
    first, second, third = items
    # The first paid in full; the second's interest paid ahead of its period.
    paid = [
        PayoffItem(
            1,
            first.due_date,
            ZERO,
            ZERO,
            first.interest_amount,
            PenaltyBalance(first.due_date, first.penalty.total, ZERO),
        ),
        PayoffItem(
            2,
            second.due_date,
            second.principal_remaining,
            ZERO,
            second.interest_amount,
            second.penalty,
        ),
        third,
    ]
    quote = quote_payoff(paid, date(2026, 2, 16), DISBURSED, PenaltyTerms(Decimal("0.001")))
    assert [line.number for line in quote.lines] == [2, 3]
    assert quote.interest == ZERO  # the period's interest so far is less than what was paid
    assert quote.interest_waived == third.interest_amount
    assert quote.principal == second.principal_remaining + third.principal_remaining
