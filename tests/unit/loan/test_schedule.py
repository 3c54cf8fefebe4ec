from datetime import date
from decimal import Decimal

import numpy_financial as npf
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from elms.loan.products import MAX_INSTALLMENTS, STANDARD_COUNTS
from elms.loan.schedule import (
    InterestMethod,
    annuity_payment,
    build_schedule,
    due_dates,
)

amounts = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("10000000000000"), places=2)
rates = st.decimals(min_value=Decimal("0.001"), max_value=Decimal("0.5"), places=4)
# The standard counts, and any a product may set (a 36-month product, 40-year mortgages).
counts = st.sampled_from(STANDARD_COUNTS) | st.integers(1, MAX_INSTALLMENTS)
methods = st.sampled_from(list(InterestMethod))
starts = st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 12, 31))


@settings(max_examples=400)
@given(amount=amounts, rate=rates, count=counts, method=methods, start=starts)
def test_every_schedule_adds_up_exactly_and_has_no_negative_amount(
    amount, rate, count, method, start
):
    schedule = build_schedule(amount, rate, count, method, start)
    rows = schedule.installments
    assert len(rows) == count
    assert sum(r.principal for r in rows) == amount
    assert sum(r.total for r in rows) == schedule.total_repayment
    assert schedule.total_repayment == amount + schedule.total_interest
    for row in rows:
        assert row.principal >= 0 and row.interest >= 0
        assert row.total == row.principal + row.interest
        for value in (row.principal, row.interest):
            assert value == value.quantize(Decimal("0.01"))
    assert [r.number for r in rows] == list(range(1, count + 1))


@given(start=starts, count=counts)
def test_due_dates_are_the_first_of_consecutive_months_after_the_start(start, count):
    dates = due_dates(start, count)
    assert all(d.day == 1 for d in dates)
    assert (
        dates[0] > start
        and (dates[0].year * 12 + dates[0].month) - (start.year * 12 + start.month) == 1
    )
    months = [d.year * 12 + d.month for d in dates]
    assert months == list(range(months[0], months[0] + count))


def test_a_december_start_rolls_into_january_of_the_next_year():
    assert due_dates(date(2026, 12, 31), 2) == [date(2027, 1, 1), date(2027, 2, 1)]


@pytest.mark.parametrize(
    ("amount", "rate", "count"),
    [
        ("10000.00", "0.12", 12),
        ("250000.00", "0.065", 24),
        ("5000.00", "0.5", 6),
        ("1234567.89", "0.001", 9),
        ("9999999999999.99", "0.3333", 24),
    ],
)
def test_the_annuity_payment_matches_numpy_financial(amount, rate, count):
    reference = -npf.pmt(float(rate) / 12, count, float(amount))
    ours = annuity_payment(Decimal(amount), Decimal(rate), count)
    # numpy works in binary floating point: agree to the cent, within float error.
    assert abs(float(ours) - reference) <= 0.005 + abs(reference) * 1e-12


def test_a_declining_balance_schedule_matches_a_hand_computed_one():
    """10,000.00 at 12% over 6 months: r = 1%, payment = 1,725.48."""
    schedule = build_schedule(
        Decimal("10000.00"), Decimal("0.12"), 6, InterestMethod.DECLINING_BALANCE, date(2026, 1, 15)
    )
    expected = [
        ("1625.48", "100.00"),
        ("1641.73", "83.75"),
        ("1658.15", "67.33"),
        ("1674.73", "50.75"),
        ("1691.48", "34.00"),
        ("1708.43", "17.08"),
    ]
    assert schedule.installment_amount == Decimal("1725.48")
    assert [(str(r.principal), str(r.interest)) for r in schedule.installments] == expected
    # five payments of 1,725.48 and a last of 1,708.43 + 17.08 = 1,725.51
    assert schedule.total_repayment == Decimal("10352.91")
    assert schedule.first_due_date == date(2026, 2, 1)
    assert schedule.maturity_date == date(2026, 7, 1)


def test_a_flat_schedule_charges_interest_on_the_original_amount_for_the_whole_term():
    """1,000.00 at 10% over 12 months: interest 100.00, 91.67 a month, the last 91.63."""
    schedule = build_schedule(
        Decimal("1000.00"), Decimal("0.10"), 12, InterestMethod.FLAT, date(2026, 3, 1)
    )
    totals = [r.total for r in schedule.installments]
    assert schedule.installment_amount == Decimal("91.67")
    assert totals[:-1] == [Decimal("91.67")] * 11
    assert totals[-1] == Decimal("91.63")
    assert schedule.total_interest == Decimal("100.00")
    assert schedule.installments[0].principal == Decimal("83.34")


@pytest.mark.parametrize("count", [0, -1, MAX_INSTALLMENTS + 1])
def test_counts_beyond_what_any_product_may_set_are_refused(count):
    with pytest.raises(ValueError):
        build_schedule(Decimal("100"), Decimal("0.1"), count, InterestMethod.FLAT, date(2026, 1, 1))
