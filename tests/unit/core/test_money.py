from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from elms.core.money import MAX_AMOUNT, MoneyFormatError, cents, parse_money


@pytest.mark.parametrize(
    ("given_value", "expected"),
    [
        ("10", Decimal("10.00")),
        ("0.1", Decimal("0.10")),
        (Decimal("12345678901234.56"), None),
        ("9999999999999.99", Decimal("9999999999999.99")),
        (7, Decimal("7.00")),
        ("1.230", Decimal("1.23")),
        ("-3.25", Decimal("-3.25")),
        ("0.50", Decimal("0.50")),
    ],
)
def test_exact_amounts_are_read_to_the_cent(given_value, expected):
    if expected is None:
        with pytest.raises(MoneyFormatError):
            parse_money(given_value)
    else:
        assert parse_money(given_value) == expected
        assert parse_money(given_value).as_tuple().exponent == -2


@pytest.mark.parametrize(
    "bad",
    [
        "1.234",
        "0.001",
        "abc",
        "",
        "NaN",
        "Infinity",
        "1e30",
        0.1,
        True,
        None,
        [1],
        "10000000000000",
    ],
)
def test_anything_but_an_exact_amount_of_at_most_two_decimals_is_refused(bad):
    with pytest.raises(MoneyFormatError):
        parse_money(bad)


@pytest.mark.parametrize(
    "loose",
    [
        " 5.00 ",
        "5.00 ",
        "\t5.00",
        "+5.00",
        "5e0",
        "1E2",
        "1_000.00",
        ".50",
        "5.",
        "05.00",
        "٥",
        "５.００",
        "5,00",
        "0x10",
        "-",
        "--5",
        "5.0.0",
        "1" * 41,
    ],
)
def test_an_amount_as_text_is_plain_digits_and_nothing_else(loose):
    with pytest.raises(MoneyFormatError):
        parse_money(loose)


def test_the_largest_numeric_15_2_amount_is_accepted_and_one_cent_more_is_not():
    assert parse_money(str(MAX_AMOUNT)) == MAX_AMOUNT
    with pytest.raises(MoneyFormatError):
        parse_money(str(MAX_AMOUNT + Decimal("0.01")))


@pytest.mark.parametrize(
    ("value", "rounded"),
    [("0.005", "0.01"), ("0.004", "0.00"), ("2.675", "2.68"), ("-0.005", "-0.01"), ("1", "1.00")],
)
def test_cents_rounds_half_up(value, rounded):
    assert cents(Decimal(value)) == Decimal(rounded)


@given(st.decimals(min_value=Decimal("-9999999999999.99"), max_value=MAX_AMOUNT, places=2))
def test_every_two_place_amount_survives_parsing_its_own_text(amount):
    assert parse_money(str(amount)) == amount
