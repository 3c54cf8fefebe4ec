from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from elms.core.errors import DomainError
from elms.customer import domain
from elms.customer.domain import CreditPosition

amounts = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("1000000"), places=2)


def position(limit="1000.00", available="1000.00", used="0.00"):
    return CreditPosition(Decimal(limit), Decimal(available), Decimal(used))


@pytest.mark.parametrize(
    ("score", "level"),
    [(850, "LOW"), (740, "LOW"), (739, "MEDIUM"), (670, "MEDIUM"), (669, "HIGH"), (300, "HIGH")],
)
def test_risk_level_follows_the_credit_score_bands(score, level):
    assert domain.risk_level(score) == level


def test_a_customer_without_a_score_is_high_risk():
    assert domain.risk_level(None) == "HIGH"


@pytest.mark.parametrize(
    ("born", "today", "adult"),
    [
        (date(2008, 11, 25), date(2026, 11, 25), True),
        (date(2008, 11, 26), date(2026, 11, 25), False),
        (date(2008, 2, 29), date(2026, 2, 28), False),
        (date(2008, 2, 29), date(2026, 3, 1), True),
    ],
)
def test_adulthood_starts_on_the_eighteenth_birthday(born, today, adult):
    assert domain.is_adult(born, today) is adult


def test_reserving_takes_the_amount_from_available_credit():
    assert domain.reserve(position(), Decimal("250.50"), "ACTIVE") == position(available="749.50")


def test_reserving_more_than_available_is_insufficient_credit():
    with pytest.raises(DomainError) as refused:
        domain.reserve(position(available="100.00"), Decimal("100.01"), "ACTIVE")
    assert (refused.value.status, refused.value.code) == (422, "INSUFFICIENT_CREDIT")


@pytest.mark.parametrize("status", ["SUSPENDED", "CLOSED"])
def test_only_active_customers_may_reserve(status):
    with pytest.raises(DomainError) as refused:
        domain.reserve(position(), Decimal("1.00"), status)
    assert refused.value.code == "CUSTOMER_NOT_ACTIVE"


def test_settling_a_reservation_moves_the_used_part_to_used_credit_and_returns_the_rest():
    after = domain.settle_reservation(
        position(available="600.00"), Decimal("400.00"), Decimal("150.00")
    )
    assert after == position(available="850.00", used="150.00")


def test_using_more_than_was_reserved_is_refused():
    with pytest.raises(DomainError):
        domain.settle_reservation(
            position(available="600.00"), Decimal("400.00"), Decimal("400.01")
        )


def test_restoring_more_than_is_used_is_refused():
    with pytest.raises(DomainError) as refused:
        domain.restore(position(available="900.00", used="100.00"), Decimal("100.01"))
    assert refused.value.code == "RESTORE_EXCEEDS_USED_CREDIT"


def test_a_lower_limit_that_leaves_no_room_for_usage_is_refused():
    current = position(limit="1000.00", available="200.00", used="500.00")
    with pytest.raises(DomainError) as refused:
        domain.change_limit(current, Decimal("799.99"), actively_reserved=Decimal("300.00"))
    assert refused.value.code == "CREDIT_LIMIT_BELOW_USAGE"
    assert domain.change_limit(current, Decimal("800.00"), Decimal("300.00")).available == 0


@pytest.mark.parametrize(
    ("current", "target", "allowed"),
    [
        ("ACTIVE", "SUSPENDED", True),
        ("SUSPENDED", "ACTIVE", True),
        ("ACTIVE", "CLOSED", True),
        ("SUSPENDED", "CLOSED", True),
        ("CLOSED", "ACTIVE", False),
        ("CLOSED", "SUSPENDED", False),
        ("ACTIVE", "ACTIVE", True),
    ],
)
def test_account_status_moves(current, target, allowed):
    if allowed:
        domain.check_account_move(current, target, Decimal("0.00"), 0)
    else:
        with pytest.raises(DomainError) as refused:
            domain.check_account_move(current, target, Decimal("0.00"), 0)
        assert refused.value.code == "INVALID_STATUS_TRANSITION"


@pytest.mark.parametrize(("used", "reservations"), [("0.01", 0), ("0.00", 1)])
def test_an_account_with_credit_in_use_or_reserved_cannot_close(used, reservations):
    with pytest.raises(DomainError) as refused:
        domain.check_account_move("ACTIVE", "CLOSED", Decimal(used), reservations)
    assert refused.value.code == "CUSTOMER_HAS_ACTIVE_CREDIT"


@pytest.mark.parametrize(
    ("current", "target", "allowed"),
    [
        ("PENDING", "VERIFIED", True),
        ("PENDING", "REJECTED", True),
        ("VERIFIED", "PENDING", False),
        ("REJECTED", "VERIFIED", False),
        ("VERIFIED", "VERIFIED", True),
    ],
)
def test_kyc_moves_only_from_pending(current, target, allowed):
    if allowed:
        domain.check_kyc_move(current, target)
    else:
        with pytest.raises(DomainError):
            domain.check_kyc_move(current, target)


@st.composite
def credit_operations(draw):
    return draw(
        st.lists(
            st.tuples(st.sampled_from(["reserve", "settle", "restore", "limit"]), amounts, amounts),
            max_size=40,
        )
    )


@given(limit=amounts, operations=credit_operations())
def test_any_sequence_of_credit_moves_keeps_limit_equal_to_available_used_and_reserved(
    limit, operations
):
    """architecture.md §4: limit = available + used + Σ active reservations, all ≥ 0."""
    current = CreditPosition(limit, limit, Decimal("0.00"))
    reservations: list[Decimal] = []
    for kind, first, second in operations:
        try:
            if kind == "reserve":
                current = domain.reserve(current, first, "ACTIVE")
                reservations.append(first)
            elif kind == "settle" and reservations:
                reserved = reservations.pop()
                current = domain.settle_reservation(current, reserved, min(second, reserved))
            elif kind == "restore":
                current = domain.restore(current, first)
            elif kind == "limit":
                current = domain.change_limit(current, first, sum(reservations, Decimal(0)))
        except DomainError:
            pass
        assert current.available >= 0 and current.used >= 0
        assert current.limit == current.available + current.used + sum(reservations, Decimal(0))
