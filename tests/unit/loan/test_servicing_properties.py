"""A loan serviced through random payment histories, as the two services do it together: the
payment service prices and allocates (elms.payment.allocation) on the installments the loan
service reports, the loan service applies (elms.loan.domain.apply_payment), and officers waive
penalties. For every product setting and history:
- with no partial payment, each late installment's penalty is `remaining × rate × days late`
  (rounded once, capped), as before penalty balances;
- paying money never lowers an installment's penalty paid plus owed;
- an installment is PAID only with its principal, interest and penalty all paid or waived;
- the loan's days past due are their definition: days since the oldest due date of an
  installment that still owes anything."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from elms.core.errors import DomainError
from elms.core.money import ZERO, cents
from elms.core.penalty import days_past_due
from elms.loan import domain
from elms.loan.domain import Installment, InstallmentPayment
from elms.loan.schedule import InterestMethod, build_schedule
from elms.payment.allocation import PARTS, Terms, allocate
from tests.unit.payment.test_allocation import reported

START = date(2026, 1, 10)


@dataclass(frozen=True)
class Step:
    days_later: int
    share: Decimal  # of what is payable on the day
    partial: bool
    waive: bool  # instead of paying, an officer waives part of the oldest penalty


terms_drawn = st.builds(
    Terms,
    discount_rate_per_day=st.decimals(Decimal("0"), Decimal("0.01"), places=4),
    penalty_rate_per_day=st.decimals(Decimal("0"), Decimal("0.02"), places=4),
    grace_period_days=st.integers(0, 10),
    penalty_cap_share=st.none() | st.decimals(Decimal("0"), Decimal("0.3"), places=3),
    allocation_order=st.permutations(PARTS).map(tuple),
)
steps = st.lists(
    st.builds(
        Step,
        st.integers(0, 75),
        st.decimals(Decimal("0.05"), Decimal("1.5"), places=2),
        st.booleans(),
        st.booleans() | st.just(False),
    ),
    max_size=10,
)


def _schedule(amount: Decimal, count: int) -> list[Installment]:
    rows = build_schedule(amount, Decimal("0.12"), count, InterestMethod.DECLINING_BALANCE, START)
    return [
        Installment(
            installment_id=r.number,
            loan_id="LN-1",
            installment_number=r.number,
            due_date=r.due_date,
            principal_amount=r.principal,
            interest_amount=r.interest,
            total_amount=r.total,
            status="PENDING",
            paid_date=None,
            paid_amount=ZERO,
            discount_applied=ZERO,
            penalty_applied=ZERO,
            remaining_amount=r.total,
        )
        for r in rows.installments
    ]


def _changed(row: Installment, change: domain.InstallmentChange) -> Installment:
    return replace(
        row,
        status=change.status,
        paid_amount=change.paid_amount,
        discount_applied=change.discount_applied,
        penalty_applied=change.penalty_applied,
        remaining_amount=change.remaining_amount,
        principal_paid=change.principal_paid,
        interest_paid=change.interest_paid,
        penalty_outstanding=change.penalty_outstanding,
        penalty_frozen_on=change.penalty_frozen_on,
        penalty_waived=change.penalty_waived,
    )


def _charged(row: Installment, on: date, terms: Terms) -> Decimal:
    """Penalty paid plus owed on `on` (waived is neither: an officer's choice, not money)."""
    return row.penalty_applied + row.penalty_owed(on, terms.penalty_terms)


def _owes(row: Installment, on: date, terms: Terms) -> bool:
    return row.remaining > ZERO or row.penalty_owed(on, terms.penalty_terms) > ZERO


def _pay(rows: list[Installment], on: date, step: Step, terms: Terms) -> list[Installment]:
    open_ = [reported(r) for r in rows]
    try:
        quoted = allocate(open_, on, None, terms=terms)
    except DomainError:
        return rows  # nothing payable that day
    offered = max(cents(quoted.final_amount * step.share), Decimal("0.01"))
    try:
        allocation = allocate(open_, on, offered, partial=step.partial, terms=terms)
    except DomainError:
        return rows  # too little for a whole installment
    parts = [
        InstallmentPayment(
            r.number, r.principal_paid, r.interest_paid, r.penalty_paid, r.discount_applied
        )
        for r in allocation.rows
    ]
    before = {r.installment_number: _charged(r, on, terms) for r in rows}
    changes = domain.apply_payment(rows, parts, on, terms.penalty_terms, terms.allocation_order)
    by_number = {c.installment_number: c for c in changes}
    after = [
        _changed(r, by_number[r.installment_number]) if r.installment_number in by_number else r
        for r in rows
    ]
    for row in after:
        # Money paid never lowers what the installment is charged.
        assert _charged(row, on, terms) >= before[row.installment_number]
    if not step.partial:
        # Whole installments: the penalty paid is the rule before balances, to the cent.
        for part, row in zip(allocation.rows, rows_of(rows, allocation), strict=True):
            if row.penalty_frozen_on is None:  # never changed: no partial, no waiver
                assert part.penalty_paid == _old_rule(row, on, terms)
    return after


def rows_of(rows: list[Installment], allocation) -> list[Installment]:
    by_number = {r.installment_number: r for r in rows}
    return [by_number[a.number] for a in allocation.rows]


def _old_rule(row: Installment, on: date, terms: Terms) -> Decimal:
    late = (on - row.due_date).days
    if late <= terms.grace_period_days:
        return ZERO
    penalty = cents(row.remaining * terms.penalty_rate_per_day * late)
    if terms.penalty_cap_share is not None:
        penalty = min(penalty, cents(row.total_amount * terms.penalty_cap_share))
    return penalty


def _waive(rows: list[Installment], on: date, terms: Terms) -> list[Installment]:
    owing = [r for r in rows if r.penalty_owed(on, terms.penalty_terms) > ZERO]
    if not owing:
        return rows
    target = owing[0]
    owed = target.penalty_owed(on, terms.penalty_terms)
    change, waived = domain.waive_penalty(
        target, max(cents(owed / 2), Decimal("0.01")), on, terms.penalty_terms
    )
    assert waived <= owed
    return [_changed(r, change) if r is target else r for r in rows]


@settings(max_examples=300, deadline=None)
@given(
    amount=st.decimals(Decimal("100.00"), Decimal("50000.00"), places=2),
    count=st.sampled_from([3, 6, 12]),
    terms=terms_drawn,
    history=steps,
)
def test_a_loan_serviced_through_any_history_keeps_the_rules(amount, count, terms, history):
    rows = _schedule(amount, count)
    on = START
    for step in history:
        on += timedelta(days=step.days_later)
        rows = _waive(rows, on, terms) if step.waive else _pay(rows, on, step, terms)
        for row in rows:
            # PAID exactly when every part is paid or waived.
            assert (row.status == "PAID") == (not _owes(row, on, terms))
            assert row.penalty_outstanding >= ZERO and row.penalty_waived >= ZERO
            if terms.penalty_cap_share is not None:
                cap = cents(row.total_amount * terms.penalty_cap_share)
                assert (
                    row.penalty_applied
                    + row.penalty_waived
                    + row.penalty_owed(on, terms.penalty_terms)
                    <= cap
                )
        owing = [r.due_date for r in rows if _owes(r, on, terms)]
        expected = max((on - min(owing)).days, 0) if owing else 0
        unpaid = [r.due_date for r in rows if r.status != "PAID"]
        assert days_past_due(unpaid, on) == expected
