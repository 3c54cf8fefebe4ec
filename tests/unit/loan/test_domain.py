from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from elms.core.errors import DomainError
from elms.core.penalty import PenaltyTerms
from elms.loan import domain
from elms.loan.domain import Installment, InstallmentPayment, LoanAction, LoanStatus

D = Decimal


# Paid on the first installment's due date: nothing late, no penalty.
ON = date(2026, 1, 1)
TERMS = PenaltyTerms(D("0.001"))


def pay(installments, parts, order=domain.DEFAULT_ORDER, on=ON):
    return domain.apply_payment(installments, parts, on, TERMS, order)


def installment(number=1, principal="100.00", interest="10.00", remaining=None, status="PENDING"):
    total = D(principal) + D(interest)
    taken = total - D(remaining) if remaining is not None else D("0.00")
    return Installment(
        installment_id=number,
        loan_id="LOAN-1",
        installment_number=number,
        due_date=date(2026, number, 1),
        principal_amount=D(principal),
        interest_amount=D(interest),
        total_amount=total,
        status=status,
        paid_date=None,
        paid_amount=D("0.00"),
        discount_applied=D("0.00"),
        penalty_applied=D("0.00"),
        remaining_amount=D(remaining) if remaining is not None else total,
        interest_paid=min(taken, D(interest)),
        principal_paid=taken - min(taken, D(interest)),
    )


@pytest.mark.parametrize(
    ("current", "action", "target"),
    [
        ("PENDING_APPROVAL", LoanAction.APPROVE, "APPROVED"),
        ("PENDING_APPROVAL", LoanAction.REJECT, "REJECTED"),
        ("PENDING_APPROVAL", LoanAction.CANCEL, "CANCELLED"),
        ("APPROVED", LoanAction.CANCEL, "CANCELLED"),
        ("APPROVED", LoanAction.DISBURSE, "ACTIVE"),
        ("ACTIVE", LoanAction.PAY_OFF, "PAID_OFF"),
    ],
)
def test_the_lifecycle_moves_of_the_spec_are_allowed(current, action, target):
    assert domain.next_status(current, action) == target


def test_every_other_move_is_an_invalid_loan_state():
    allowed = {
        ("PENDING_APPROVAL", "APPROVE"),
        ("PENDING_APPROVAL", "REJECT"),
        ("PENDING_APPROVAL", "CANCEL"),
        ("APPROVED", "CANCEL"),
        ("APPROVED", "DISBURSE"),
        ("ACTIVE", "PAY_OFF"),
    }
    for status in LoanStatus:
        for action in LoanAction:
            if (status.value, action.value) in allowed:
                continue
            with pytest.raises(DomainError) as refused:
                domain.next_status(status, action)
            assert (refused.value.status, refused.value.code) == (422, "INVALID_LOAN_STATE")


def test_a_full_payment_marks_the_installment_paid_with_nothing_remaining():
    [change] = pay(
        [installment()], [InstallmentPayment(1, D("100.00"), D("10.00"), D("0"), D("0.50"))]
    )
    assert change.status == "PAID"
    assert change.remaining_amount == D("0.00")
    assert change.paid_amount == D("109.50")
    assert change.discount_applied == D("0.50")


def test_a_partial_payment_leaves_the_rest_and_counts_interest_first():
    [change] = pay([installment()], [InstallmentPayment(1, D("5.00"), D("10.00"), D("0"), D("0"))])
    assert change.status == "PARTIALLY_PAID"
    assert change.remaining_amount == D("95.00")
    partly = installment(remaining="95.00", status="PARTIALLY_PAID")
    assert (partly.interest_paid, partly.principal_paid) == (D("10.00"), D("5.00"))


@pytest.mark.parametrize(
    "part",
    [
        InstallmentPayment(1, D("100.01"), D("10.00"), D("0"), D("0")),
        InstallmentPayment(1, D("100.00"), D("10.01"), D("0"), D("0")),
        InstallmentPayment(1, D("-1.00"), D("0"), D("0"), D("0")),
        InstallmentPayment(2, D("1.00"), D("0"), D("0"), D("0")),
    ],
)
def test_a_part_that_overpays_goes_negative_or_names_no_installment_is_refused(part):
    with pytest.raises(DomainError) as refused:
        pay([installment()], [part])
    assert refused.value.code == "INSTALLMENT_NOT_PAYABLE"


def test_a_paid_installment_cannot_be_paid_again():
    paid = installment(remaining="0.00", status="PAID")
    with pytest.raises(DomainError):
        pay([paid], [InstallmentPayment(1, D("0"), D("0"), D("1.00"), D("0"))])


def test_the_loan_is_paid_off_only_when_every_installment_is_paid():
    rows = [installment(1), installment(2, remaining="0.00", status="PAID")]
    changes = pay(rows, [InstallmentPayment(1, D("100.00"), D("10.00"), D("0"), D("0"))])
    assert domain.is_paid_off(rows, changes)
    assert not domain.is_paid_off([installment(1), installment(2)], changes)


@given(
    st.lists(
        st.tuples(
            st.decimals(min_value=D("0"), max_value=D("60"), places=2),
            st.decimals(min_value=D("0"), max_value=D("10"), places=2),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_successive_payments_never_take_more_than_the_installment_owes(payments):
    row = installment()
    for principal, interest in payments:
        try:
            [change] = pay([row], [InstallmentPayment(1, principal, interest, D("0"), D("0"))])
        except DomainError:
            continue
        row = Installment(
            **{
                **row.__dict__,
                "status": change.status,
                "remaining_amount": change.remaining_amount,
                "paid_amount": change.paid_amount,
                "principal_paid": change.principal_paid,
                "interest_paid": change.interest_paid,
            }
        )
        assert D("0") <= row.remaining <= row.total_amount
        assert row.principal_paid <= row.principal_amount
        assert row.interest_paid <= row.interest_amount
        assert row.paid_amount == row.total_amount - row.remaining


def test_the_loans_allocation_order_decides_which_part_a_partial_payment_may_pay_first():
    principal_first = InstallmentPayment(1, D("50.00"), D("0.00"), D("0.00"), D("0.00"))
    with pytest.raises(DomainError):
        pay([installment()], [principal_first])  # interest first by default
    [change] = pay([installment()], [principal_first], ("principal", "interest", "penalty"))
    assert (change.principal_paid, change.interest_paid) == (D("50.00"), D("0.00"))
    assert change.remaining_amount == D("60.00")
    # Interest while principal is still owed is out of that order.
    interest = InstallmentPayment(1, D("0.00"), D("5.00"), D("0.00"), D("0.00"))
    with pytest.raises(DomainError):
        pay([installment()], [interest], ("principal", "interest", "penalty"))


def test_a_discount_larger_than_the_interest_paid_is_refused():
    only_a_discount = InstallmentPayment(1, D("0.00"), D("0.00"), D("0.00"), D("5.00"))
    with pytest.raises(DomainError):
        pay([installment()], [only_a_discount])
