import json
from datetime import date, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from elms.core import jsoncodec


def test_decimals_are_written_digit_for_digit_as_json_numbers():
    text = jsoncodec.dumps({"a": Decimal("12345678901234.56"), "b": Decimal("10.00")})
    assert text == '{"a":12345678901234.56,"b":10.00}'


def test_fractions_are_read_as_decimals_never_floats():
    value = jsoncodec.loads('{"amount": 0.1, "big": 12345678901234.56, "n": 3}')
    assert value == {"amount": Decimal("0.1"), "big": Decimal("12345678901234.56"), "n": 3}
    assert isinstance(value["n"], int)


@pytest.mark.parametrize("text", ['{"a": NaN}', '{"a": Infinity}', '{"a": -Infinity}', "{"])
def test_non_numbers_and_broken_json_are_malformed(text):
    with pytest.raises((json.JSONDecodeError, ValueError)):
        jsoncodec.loads(text)


def test_timestamps_are_utc_with_milliseconds_and_z_and_dates_plain():
    text = jsoncodec.dumps({"t": datetime(2026, 1, 5, 10, 30), "d": date(2026, 1, 5)})
    assert text == '{"t":"2026-01-05T10:30:00.000Z","d":"2026-01-05"}'


@given(st.decimals(allow_nan=False, allow_infinity=False, places=2))
def test_any_amount_round_trips_exactly(amount):
    assert jsoncodec.loads(jsoncodec.dumps({"x": amount}))["x"] == amount
