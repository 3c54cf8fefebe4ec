from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from elms.core.errors import DomainError
from elms.core.money import ZERO, cents
from elms.loan.domain import Installment, InstallmentPayment, apply_payment
from elms.loan.products import STANDARD_COUNTS
from elms.loan.schedule import InterestMethod, build_schedule
from elms.payment.allocation import (
    PARTS,
    Allocation,
    OpenInstallment,
    PaymentMethod,
    Terms,
    allocate,
    allocation_order,
    horizon_end,
    payable,
    payment_window,
    processing_fee,
    quote,
    total_amount,
)

# ---------------------------------------------------------------- random loans and payments


@dataclass(frozen=True)
class Payment:
    loan: list[Installment]
    installments: list[OpenInstallment]
    on: date
    offered: Decimal | None
    numbers: list[int] | None
    partial: bool
    terms: Terms

    def allocate(self) -> Allocation:
        return allocate(
            self.installments, self.on, self.offered, self.numbers, self.partial, self.terms
        )

    @property
    def candidates(self) -> list[OpenInstallment]:
        due = payable(self.installments, self.on, self.terms)
        return due[: len(self.numbers)] if self.numbers else due


terms_drawn = st.builds(
    Terms,
    discount_rate_per_day=st.decimals(Decimal("0"), Decimal("0.05"), places=4),
    penalty_rate_per_day=st.decimals(Decimal("0"), Decimal("0.05"), places=4),
    grace_period_days=st.integers(0, 15),
    penalty_cap_share=st.none() | st.decimals(Decimal("0"), Decimal("0.5"), places=3),
    horizon_months=st.just(3) | st.integers(0, 6),
    allocation_order=st.permutations(PARTS).map(tuple),
)


@st.composite
def loans(draw) -> list[Installment]:
    """A real schedule as the loan service holds it: a prefix already paid and maybe the next
    installment partly paid."""
    amount = draw(st.decimals(Decimal("0.01"), Decimal("1000000000"), places=2))
    rate = draw(st.decimals(Decimal("0.001"), Decimal("0.5"), places=4))
    count = draw(st.sampled_from(STANDARD_COUNTS))
    method = draw(st.sampled_from(list(InterestMethod)))
    start = draw(st.dates(date(2000, 1, 1), date(2090, 12, 31)))
    rows = build_schedule(amount, rate, count, method, start).installments
    paid = draw(st.integers(0, count - 1))
    installments = []
    for row in rows:
        if row.number <= paid:
            taken, status = row.total, "PAID"
        elif row.number == paid + 1 and row.total >= Decimal("0.02") and draw(st.booleans()):
            # anything from a cent to a cent short, and exactly the interest
            taken = draw(st.decimals(Decimal("0.01"), row.total, places=2) | st.just(row.interest))
            taken = min(max(taken, Decimal("0.01")), row.total - Decimal("0.01"))
            status = "PARTIALLY_PAID"
        else:
            taken, status = ZERO, draw(st.sampled_from(["PENDING", "OVERDUE"]))
        installments.append(
            Installment(
                installment_id=row.number,
                loan_id="LN-1",
                installment_number=row.number,
                due_date=row.due_date,
                principal_amount=row.principal,
                interest_amount=row.interest,
                total_amount=row.total,
                status=status,
                paid_date=None,
                paid_amount=taken,
                discount_applied=ZERO,
                penalty_applied=ZERO,
                remaining_amount=row.total - taken,
                # Paid before, interest first.
                interest_paid=min(taken, row.interest),
                principal_paid=taken - min(taken, row.interest),
            )
        )
    return draw(st.permutations(installments))


def reported(installment: Installment) -> OpenInstallment:
    """What the loan service reports of an installment to the payment service."""
    return OpenInstallment(
        installment.installment_number,
        installment.due_date,
        installment.status,
        installment.principal_amount - installment.principal_paid,
        installment.interest_amount - installment.interest_paid,
        installment.total_amount,
        installment.penalty_outstanding,
        installment.penalty_frozen_on,
        installment.penalty_applied + installment.penalty_waived,
    )


@st.composite
def payments(draw) -> Payment:
    loan = draw(loans())
    installments = [reported(i) for i in loan]
    if draw(st.booleans()):
        start = min(i.due_date for i in installments) - timedelta(days=31)
        on = start + timedelta(days=draw(st.integers(-40, len(installments) * 31 + 130)))
    else:
        # around an unpaid installment's due date, and often exactly on it
        unpaid = [i for i in installments if i.status != "PAID"] or installments
        due_date = draw(st.sampled_from(unpaid)).due_date
        on = due_date + timedelta(days=draw(st.integers(-80, 100) | st.just(0)))
    terms = draw(terms_drawn)
    due = payable(installments, on, terms)
    numbers = None
    if due and draw(st.booleans()):
        numbers = [i.number for i in due[: draw(st.integers(1, len(due)))]]
    candidates = due[: len(numbers)] if numbers else due
    dues = [quote(i, on, terms).amount_due for i in candidates]
    kind = draw(st.sampled_from(["none", "any", "share", "exact"]))
    if kind == "none":
        offered = None
    elif kind == "any":
        offered = draw(st.decimals(Decimal("0.01"), Decimal("30000000000"), places=2))
    elif kind == "share":
        share = draw(st.decimals(Decimal("0"), Decimal("1.3"), places=3))
        offered = max(cents(sum(dues, ZERO) * share), Decimal("0.01"))
    else:
        # exactly the amounts due of the first k candidates: the boundary of every stop
        offered = max(sum(dues[: draw(st.integers(0, len(dues)))], ZERO), Decimal("0.01"))
    return Payment(loan, installments, on, offered, numbers, draw(st.booleans()), terms)


def allocated(payment: Payment) -> Allocation | None:
    """The allocation, or None where the rules refuse (checked by its own property)."""
    try:
        return payment.allocate()
    except DomainError:
        return None


# ---------------------------------------------------------------- properties

PROPERTY = settings(max_examples=300, deadline=None)


@PROPERTY
@given(payment=payments())
def test_refusals_happen_only_where_the_rules_say(payment):
    candidates = payment.candidates
    try:
        payment.allocate()
    except DomainError as error:
        assert error.status == 422
        if error.code == "INSTALLMENT_NOT_PAYABLE":
            assert candidates == []
        else:
            first_due = quote(candidates[0], payment.on, payment.terms).amount_due
            assert error.code == "PAYMENT_AMOUNT_TOO_LOW"
            assert error.extra == {"amountNeeded": first_due}
            assert payment.offered is not None and payment.offered < first_due
            assert not payment.partial
    else:
        assert candidates


@PROPERTY
@given(payment=payments())
def test_the_money_offered_is_exactly_what_the_rows_take_plus_what_is_left_unapplied(payment):
    allocation = allocated(payment)
    if allocation is None or payment.offered is None:
        return
    assert sum((r.paid for r in allocation.rows), ZERO) + allocation.unapplied == payment.offered
    assert allocation.final_amount == sum((r.paid for r in allocation.rows), ZERO)
    assert allocation.final_amount == (
        allocation.base_amount - allocation.discount_amount + allocation.penalty_amount
    )


@PROPERTY
@given(payment=payments())
def test_a_whole_row_is_paid_exactly_its_amount_due_within_the_schemas_breakdown(payment):
    allocation = allocated(payment)
    if allocation is None:
        return
    for row in allocation.rows:
        assert row.paid == (
            row.principal_paid + row.interest_paid + row.penalty_paid - row.discount_applied
        )
    whole = allocation.rows[:-1] if payment.partial else allocation.rows
    assert all(r.paid == r.amount_due and r.fully_paid for r in whole)


@PROPERTY
@given(payment=payments())
def test_no_installment_appears_twice_in_one_payment(payment):
    allocation = allocated(payment)
    if allocation is None:
        return
    numbers = [r.number for r in allocation.rows]
    assert len(numbers) == len(set(numbers))


@PROPERTY
@given(payment=payments())
def test_every_amount_is_non_negative_and_in_whole_cents(payment):
    allocation = allocated(payment)
    if allocation is None:
        return
    amounts = [allocation.unapplied]
    for row in allocation.rows:
        amounts += [
            row.original_amount,
            row.amount_due,
            row.principal_paid,
            row.interest_paid,
            row.penalty_paid,
            row.discount_applied,
            row.paid,
            row.remaining_after,
        ]
    for amount in amounts:
        assert amount >= 0
        assert amount.as_tuple().exponent == -2


@PROPERTY
@given(payment=payments())
def test_nothing_is_paid_beyond_what_the_installment_owes(payment):
    allocation = allocated(payment)
    if allocation is None:
        return
    owed = {i.number: i for i in payment.installments}
    for row in allocation.rows:
        installment = owed[row.number]
        price = quote(installment, payment.on, payment.terms)
        assert row.principal_paid <= installment.principal_remaining
        assert row.interest_paid <= installment.interest_remaining
        assert row.penalty_paid <= price.penalty
        # the discount reduces interest, so it never exceeds the interest paid
        assert row.discount_applied <= row.interest_paid
        assert row.remaining_after >= 0


@PROPERTY
@given(payment=payments())
def test_the_loan_service_accepts_every_allocation_and_ends_where_the_rows_say(payment):
    allocation = allocated(payment)
    if allocation is None:
        return
    parts = [
        InstallmentPayment(
            r.number, r.principal_paid, r.interest_paid, r.penalty_paid, r.discount_applied
        )
        for r in allocation.rows
    ]
    changes = apply_payment(
        payment.loan,
        parts,
        payment.on,
        payment.terms.penalty_terms,
        payment.terms.allocation_order,
    )
    before = {i.installment_number: i for i in payment.loan}
    reported_by = {i.number: i for i in payment.installments}
    for row, change in zip(allocation.rows, changes, strict=True):
        assert change.remaining_amount == row.remaining_after
        # PAID with every part paid: principal, interest, and all the penalty owed that day.
        penalty_owed = quote(reported_by[row.number], payment.on, payment.terms).penalty
        assert (change.status == "PAID") == (row.fully_paid and row.penalty_paid == penalty_owed)
        # What the payment service tells the saga (`settles`) is what the loan service does.
        assert (change.status == "PAID") == row.settles
        assert change.paid_amount == before[row.number].paid_amount + row.paid


@PROPERTY
@given(payment=payments())
def test_no_row_is_due_after_the_horizon(payment):
    allocation = allocated(payment)
    if allocation is None:
        return
    last = horizon_end(payment.on, payment.terms.horizon_months)
    assert all(r.due_date <= last for r in allocation.rows)


@PROPERTY
@given(payment=payments())
def test_paying_on_the_due_date_gives_neither_discount_nor_penalty(payment):
    allocation = allocated(payment)
    if allocation is None:
        return
    for row in allocation.rows:
        if row.due_date == payment.on:
            assert (row.early_days, row.late_days) == (0, 0)
            assert row.discount_applied == ZERO
            assert row.penalty_paid == ZERO


@PROPERTY
@given(payment=payments())
def test_calculate_then_pay_on_the_same_date_gives_identical_amounts(payment):
    first = allocated(payment)
    assert allocated(payment) == first
    calculated = allocated(
        Payment(
            payment.loan,
            payment.installments,
            payment.on,
            None,
            payment.numbers,
            False,
            payment.terms,
        )
    )
    if calculated is None:
        return
    paid = allocate(
        payment.installments,
        payment.on,
        calculated.final_amount,
        payment.numbers,
        False,
        payment.terms,
    )
    assert paid == calculated
    assert paid.unapplied == ZERO


@PROPERTY
@given(payment=payments())
def test_whole_installments_are_paid_oldest_first_and_stop_at_the_first_not_covered(payment):
    allocation = allocated(payment)
    if allocation is None:
        return
    candidates = payment.candidates
    rows = allocation.rows
    assert [r.number for r in rows] == [i.number for i in candidates[: len(rows)]]
    if payment.offered is None:
        assert len(rows) == len(candidates)
        return
    whole = [r for r in rows if r.paid == r.amount_due and r.fully_paid]
    if len(whole) < len(candidates):
        next_due = quote(candidates[len(whole)], payment.on, payment.terms).amount_due
        assert payment.offered - sum((r.paid for r in whole), ZERO) < next_due
    if not payment.partial:
        assert rows == tuple(whole)


@PROPERTY
@given(payment=payments(), data=st.data())
def test_numbers_that_are_not_the_oldest_payable_ones_in_order_are_refused(payment, data):
    due = [i.number for i in payable(payment.installments, payment.on, payment.terms)]
    everyone = [i.number for i in payment.installments] + [0, 99]
    numbers = data.draw(st.lists(st.sampled_from(everyone), min_size=1, max_size=6))
    if numbers == due[: len(numbers)]:
        return
    with pytest.raises(DomainError) as refused:
        allocate(payment.installments, payment.on, None, numbers, False, payment.terms)
    assert refused.value.code == "INSTALLMENT_NOT_PAYABLE"
    assert refused.value.extra["payableInstallments"] == due


# ---------------------------------------------------------------- worked examples
# The same tables, with the arithmetic, are in docs/payment-allocation.md.

DUE = date(2026, 3, 1)


def installment(
    number: int = 1,
    due: date = DUE,
    principal: str = "900.00",
    interest: str = "100.00",
    status: str = "PENDING",
) -> OpenInstallment:
    return OpenInstallment(number, due, status, Decimal(principal), Decimal(interest))


STANDARD = Terms()
GRACE = Terms(grace_period_days=5)
CAPPED = Terms(penalty_cap_share=Decimal("0.005"))

# fmt: off
QUOTES = [
    # paid on      principal  interest  terms    early late discount penalty  amount due
    ("2026-02-19", "900.00", "100.00", STANDARD, 10,  0,  "10.00", "0.00",  "990.00"),
    ("2026-03-08", "900.00", "100.00", STANDARD, 0,   7,  "0.00",  "7.00",  "1007.00"),
    ("2026-03-01", "900.00", "100.00", STANDARD, 0,   0,  "0.00",  "0.00",  "1000.00"),
    ("2026-03-04", "900.00", "100.00", GRACE,    0,   3,  "0.00",  "0.00",  "1000.00"),
    ("2026-03-08", "900.00", "100.00", GRACE,    0,   7,  "0.00",  "7.00",  "1007.00"),
    ("2026-03-31", "900.00", "100.00", CAPPED,   0,   30, "0.00",  "5.00",  "1005.00"),
    ("2026-03-02", "905.00", "100.00", STANDARD, 0,   1,  "0.00",  "1.01",  "1006.01"),
    ("2026-02-19", "990.00", "5.00",   STANDARD, 10,  0,  "5.00",  "0.00",  "990.00"),
    ("2025-12-31", "900.00", "100.00", STANDARD, 60,  0,  "60.00", "0.00",  "940.00"),
]
QUOTE_CASES = [
    "10 days early", "7 days late", "due today", "3 days late within a 5-day grace",
    "7 days late past a 5-day grace", "30 days late with the penalty capped",
    "a half cent rounds up", "the discount capped at the interest", "60 days early",
]
# fmt: on


@pytest.mark.parametrize(
    ("on", "principal", "interest", "terms", "early", "late", "discount", "penalty", "due"),
    QUOTES,
    ids=QUOTE_CASES,
)
def test_an_installments_amount_due_matches_the_hand_computed_table(
    on, principal, interest, terms, early, late, discount, penalty, due
):
    """Installment due 2026-03-01, default rates 0.001 a day, half-up to the cent:

    10 days early (Feb 19): discount 1,000.00 × 0.001 × 10 = 10.00; due 990.00.
    7 days late (Mar 8): penalty 1,000.00 × 0.001 × 7 = 7.00; due 1,007.00.
    Due today: neither; due 1,000.00.
    Grace 5 days, 3 days late: no penalty. 7 days late: all 7 days count, 7.00.
    Cap 0.5%, 30 days late: 30.00 uncapped, cap 1,000.00 × 0.005 = 5.00; due 1,005.00.
    1,005.00 one day late: 1.005 rounds half-up to 1.01 (half-even would give 1.00).
    990.00 + 5.00 interest, 10 days early: 995.00 × 0.01 = 9.95, capped at the 5.00 interest.
    60 days early (Dec 31): 1,000.00 × 0.001 × 60 = 60.00; due 940.00.
    """
    price = quote(
        installment(principal=principal, interest=interest), date.fromisoformat(on), terms
    )
    assert (price.early_days, price.late_days) == (early, late)
    assert (price.discount, price.penalty) == (Decimal(discount), Decimal(penalty))
    assert price.amount_due == Decimal(due)


def four_installments() -> list[OpenInstallment]:
    """1,000.00 each, due on the first of March to June 2026."""
    return [
        installment(1, date(2026, 3, 1), "900.00", "100.00"),
        installment(2, date(2026, 4, 1), "910.00", "90.00"),
        installment(3, date(2026, 5, 1), "920.00", "80.00"),
        installment(4, date(2026, 6, 1), "930.00", "70.00"),
    ]


def summary(allocation: Allocation) -> list[tuple[int, str, str, str, str, str, str]]:
    return [
        (
            r.number,
            str(r.interest_paid),
            str(r.principal_paid),
            str(r.penalty_paid),
            str(r.discount_applied),
            str(r.paid),
            str(r.remaining_after),
        )
        for r in allocation.rows
    ]


def test_a_partial_payment_pays_whole_installments_then_the_next_ones_interest_and_principal():
    """1,500.00 on Mar 8, partial. #1 is 7 days late: 1,000.00 + 7.00 = 1,007.00, paid whole;
    493.00 left. #2 is 24 days early and would cost 1,000.00 − 24.00 = 976.00, more than is
    left, so it takes 493.00 without discount: interest 90.00, principal 403.00; 507.00 stays."""
    allocation = allocate(four_installments(), date(2026, 3, 8), Decimal("1500.00"), partial=True)
    assert summary(allocation) == [
        (1, "100.00", "900.00", "7.00", "0.00", "1007.00", "0.00"),
        (2, "90.00", "403.00", "0.00", "0.00", "493.00", "507.00"),
    ]
    assert allocation.rows[1].amount_due == Decimal("976.00")
    assert not allocation.rows[1].fully_paid
    assert allocation.unapplied == ZERO
    assert (allocation.base_amount, allocation.penalty_amount, allocation.final_amount) == (
        Decimal("1493.00"),
        Decimal("7.00"),
        Decimal("1500.00"),
    )


def test_without_partial_the_money_an_installment_does_not_cover_is_left_unapplied():
    """The same 1,500.00 on Mar 8 in whole mode: #1 for 1,007.00, 493.00 unapplied."""
    allocation = allocate(four_installments(), date(2026, 3, 8), Decimal("1500.00"))
    assert [r.number for r in allocation.rows] == [1]
    assert allocation.unapplied == Decimal("493.00")


def test_a_whole_payment_takes_installments_while_the_rest_covers_them():
    """3,000.00 on Mar 1: #1 due today 1,000.00; #2 31 days early 1,000.00 − 31.00 = 969.00;
    #3 61 days early 1,000.00 − 61.00 = 939.00; together 2,908.00, 92.00 left. #4 (Jun 1, just
    inside Mar 1 + 3 months) would be 92.00 early, but its discount is capped at its 70.00 of
    interest: 930.00, not covered by 92.00, which stays unapplied."""
    allocation = allocate(four_installments(), date(2026, 3, 1), Decimal("3000.00"))
    assert [(r.number, str(r.discount_applied), str(r.paid)) for r in allocation.rows] == [
        (1, "0.00", "1000.00"),
        (2, "31.00", "969.00"),
        (3, "61.00", "939.00"),
    ]
    assert allocation.unapplied == Decimal("92.00")


def test_calculating_without_an_amount_quotes_every_payable_installment_whole():
    """On Mar 1: 1,000.00 + 969.00 + 939.00 + 930.00 = 3,838.00; discounts 0 + 31.00 + 61.00 +
    70.00 = 162.00 on a base of 4,000.00."""
    allocation = allocate(four_installments(), date(2026, 3, 1), None)
    assert [r.number for r in allocation.rows] == [1, 2, 3, 4]
    assert allocation.rows[3].discount_applied == Decimal("70.00")
    assert allocation.base_amount == Decimal("4000.00")
    assert allocation.discount_amount == Decimal("162.00")
    assert allocation.final_amount == Decimal("3838.00")
    assert allocation.unapplied == ZERO


def test_an_installment_beyond_the_horizon_cannot_be_paid():
    """On Jan 15 the horizon is Apr 15: #1 (Mar 1) and #2 (Apr 1) are payable, #3 (May 1) not."""
    on = date(2026, 1, 15)
    assert [r.number for r in allocate(four_installments(), on, None).rows] == [1, 2]
    with pytest.raises(DomainError) as refused:
        allocate(four_installments(), on, Decimal("5000.00"), [1, 2, 3])
    assert refused.value.code == "INSTALLMENT_NOT_PAYABLE"
    assert refused.value.extra["payableInstallments"] == [1, 2]


def test_an_installment_cannot_be_paid_past_an_older_unpaid_one():
    with pytest.raises(DomainError) as refused:
        allocate(four_installments(), date(2026, 3, 1), Decimal("1000.00"), [2])
    assert refused.value.code == "INSTALLMENT_NOT_PAYABLE"


def test_explicit_numbers_limit_the_installments_a_payment_may_take():
    """3,000.00 on Mar 1 for #1 only: 1,000.00 taken, 2,000.00 unapplied."""
    allocation = allocate(four_installments(), date(2026, 3, 1), Decimal("3000.00"), [1])
    assert [r.number for r in allocation.rows] == [1]
    assert allocation.unapplied == Decimal("2000.00")


def test_an_offer_below_the_first_amount_due_is_too_low_and_says_what_is_needed():
    """On Mar 8 #1 costs 1,007.00; 1,006.99 pays nothing."""
    with pytest.raises(DomainError) as refused:
        allocate(four_installments(), date(2026, 3, 8), Decimal("1006.99"))
    assert (refused.value.status, refused.value.code) == (422, "PAYMENT_AMOUNT_TOO_LOW")
    assert refused.value.extra == {"amountNeeded": Decimal("1007.00")}


def test_a_later_smaller_installment_is_never_paid_past_an_unpaid_earlier_one():
    """#1 costs 1,000.00 today and #2 only 100.00: 500.00 covers #2 but may not skip #1."""
    installments = [installment(1), installment(2, date(2026, 4, 1), "95.00", "5.00")]
    with pytest.raises(DomainError) as refused:
        allocate(installments, DUE, Decimal("500.00"))
    assert refused.value.code == "PAYMENT_AMOUNT_TOO_LOW"


def test_partial_money_covering_principal_and_interest_but_not_the_penalty_settles_it():
    """On Mar 31 #1 is 30 days late: penalty 30.00, due 1,030.00. 1,015.00 partial: interest
    100.00, principal 900.00, then 15.00 of the penalty; the installment is paid and the other
    15.00 of penalty is not carried."""
    allocation = allocate(four_installments(), date(2026, 3, 31), Decimal("1015.00"), partial=True)
    assert summary(allocation) == [(1, "100.00", "900.00", "15.00", "0.00", "1015.00", "0.00")]
    assert allocation.rows[0].fully_paid
    assert allocation.unapplied == ZERO


def test_a_partially_paid_installment_is_priced_on_what_it_still_owes():
    """#1 owes 400.00 of principal and no interest, 10 days late: penalty 4.00, due 404.00.
    Its discount, had it been early, would be capped at its 0.00 of interest."""
    partly = installment(1, principal="400.00", interest="0.00", status="PARTIALLY_PAID")
    assert quote(partly, date(2026, 3, 11)).amount_due == Decimal("404.00")
    assert quote(partly, date(2026, 2, 19)).discount == ZERO


def test_a_loan_with_nothing_payable_refuses_the_payment():
    paid = [installment(1, status="PAID", principal="0.00", interest="0.00")]
    later = [installment(1, date(2026, 7, 1))]
    for installments in (paid, later, []):
        with pytest.raises(DomainError) as refused:
            allocate(installments, DUE, None)
        assert refused.value.code == "INSTALLMENT_NOT_PAYABLE"


@pytest.mark.parametrize(
    ("on", "months", "end"),
    [
        (date(2025, 11, 30), 3, date(2026, 2, 28)),
        (date(2027, 11, 30), 3, date(2028, 2, 29)),
        (date(2026, 1, 15), 3, date(2026, 4, 15)),
        (date(2026, 10, 31), 3, date(2027, 1, 31)),
        (date(2026, 3, 31), 0, date(2026, 3, 31)),
    ],
)
def test_the_horizon_is_calendar_months_ahead_clamped_to_the_months_end(on, months, end):
    assert horizon_end(on, months) == end


def test_the_payment_window_matches_when_the_discount_ends_and_the_penalty_starts():
    """Due Mar 1 with 5 days' grace: discount until Feb 28, no penalty until Mar 6, then all
    6 days late count from Mar 7."""
    terms = Terms(grace_period_days=5)
    window = payment_window(DUE, terms)
    assert window.early_payment_until == date(2026, 2, 28)
    assert window.grace_period_until == date(2026, 3, 6)
    assert window.penalty_starts_from == date(2026, 3, 7)
    assert quote(installment(), window.early_payment_until, terms).discount == Decimal("1.00")
    assert quote(installment(), window.grace_period_until, terms).penalty == ZERO
    assert quote(installment(), window.penalty_starts_from, terms).penalty == Decimal("6.00")


def test_the_processing_fee_is_zero_unless_configured_and_adds_to_the_total():
    terms = Terms(processing_fees={PaymentMethod.CREDIT_CARD: Decimal("2.50")})
    assert processing_fee("BANK_TRANSFER") == ZERO
    assert processing_fee("CREDIT_CARD", terms) == Decimal("2.50")
    assert processing_fee("WIRE", terms) == ZERO
    assert total_amount(Decimal("1000.00"), "CREDIT_CARD", terms) == Decimal("1002.50")
    assert total_amount(Decimal("1000.00"), "CASH") == Decimal("1000.00")


def test_an_unknown_payment_method_is_refused():
    with pytest.raises(ValueError):
        processing_fee("BITCOIN")


def test_negative_terms_are_refused():
    with pytest.raises(ValueError):
        Terms(penalty_rate_per_day=Decimal("-0.001"))


# ---------------------------------------------------------------- the product's allocation order

LATE = OpenInstallment(1, date(2026, 1, 1), "OVERDUE", Decimal("100.00"), Decimal("20.00"))
ON = date(2026, 1, 31)  # 30 days late: penalty cents(120.00 × 0.001 × 30) = 3.60


@pytest.mark.parametrize(
    ("order", "paid"),
    [
        ("INTEREST_PRINCIPAL_PENALTY", ("20.00", "5.00", "0.00")),
        ("PENALTY_INTEREST_PRINCIPAL", ("20.00", "1.40", "3.60")),
        ("PRINCIPAL_INTEREST_PENALTY", ("0.00", "25.00", "0.00")),
    ],
)
def test_a_partial_payment_pays_the_parts_in_the_products_order(order, paid):
    terms = Terms(allocation_order=allocation_order(order))
    [row] = allocate([LATE], ON, Decimal("25.00"), partial=True, terms=terms).rows
    assert (row.interest_paid, row.principal_paid, row.penalty_paid) == tuple(map(Decimal, paid))
    assert row.paid == Decimal("25.00")


def test_an_unknown_allocation_order_is_refused():
    with pytest.raises(ValueError):
        allocation_order("PRINCIPAL_FIRST")
    with pytest.raises(ValueError):
        Terms(allocation_order=("interest", "interest", "penalty"))


def _after(owing: OpenInstallment, row, on: date, terms: Terms) -> OpenInstallment:
    """The installment as the loan service reports it once `row` is applied on `on`."""
    balance = owing.penalty.changed(
        on, terms.penalty_terms, row.principal_paid + row.interest_paid, row.penalty_paid
    )
    return OpenInstallment(
        owing.number,
        owing.due_date,
        "PARTIALLY_PAID",
        owing.principal_remaining - row.principal_paid,
        owing.interest_remaining - row.interest_paid,
        owing.total_amount,
        balance.frozen,
        balance.since,
        balance.settled,
    )


def test_penalty_paid_first_is_never_charged_again_and_the_cap_bounds_all_of_it():
    # 900.00 + 100.00 due 2026-01-01, 0.1% a day; penalty first.
    order = allocation_order("PENALTY_INTEREST_PRINCIPAL")
    open_ = OpenInstallment(
        1, date(2026, 1, 1), "OVERDUE", Decimal("900.00"), Decimal("100.00"), Decimal("1000.00")
    )
    terms = Terms(allocation_order=order)
    paid_on = date(2026, 1, 11)
    [first] = allocate([open_], paid_on, Decimal("10.00"), partial=True, terms=terms).rows
    assert (first.penalty_paid, first.interest_paid, first.principal_paid) == (
        Decimal("10.00"),
        ZERO,
        ZERO,
    )
    after = _after(open_, first, paid_on, terms)
    # 20 days late: 20.00 accrued, 10.00 of it already paid.
    assert quote(after, date(2026, 1, 21), terms).penalty == Decimal("10.00")

    capped = Terms(allocation_order=order, penalty_cap_share=Decimal("0.02"))  # at most 20.00
    owing, paid = open_, ZERO
    for day in range(11, 60, 7):
        on = date(2026, 1, 1) + timedelta(days=day)
        [row] = allocate([owing], on, Decimal("5.00"), partial=True, terms=capped).rows
        paid += row.penalty_paid
        owing = _after(owing, row, on, capped)
    assert paid == Decimal("20.00")
