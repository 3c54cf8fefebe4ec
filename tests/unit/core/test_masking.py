"""Bank details keep visible only what cannot identify an account: any value with six or more
digits, whatever its key, shows its last four digits and nothing more."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from elms.core.masking import mask_bank_details, mask_digits
from elms.payment.domain import mask_bank_details as payment_mask

DIGIT_RUN = re.compile(r"\d{5,}")
keys = st.text(max_size=12)
separators = st.sampled_from(["", " ", "-", ".", "/", "  "])


@st.composite
def numbers(draw: st.DrawFn) -> tuple[str, str]:
    """A number of six or more digits as a client may write it, and its digits."""
    digits = draw(st.text(alphabet="0123456789", min_size=6, max_size=34))
    groups, at = [], 0
    while at < len(digits):
        size = draw(st.integers(2, 5))
        groups.append(digits[at : at + size])
        at += size
    prefix = draw(st.sampled_from(["", "GB", "DE89 ", "NWBK"]))
    return prefix + draw(separators).join(groups), digits


scalars = st.one_of(
    st.text(max_size=30),
    st.integers(),
    st.decimals(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.none(),
)
documents = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=20,
)


def _under(path: list[str | int], value: Any) -> Any:
    for step in reversed(path):
        value = [value] if isinstance(step, int) else {step: value}
    return value


def _leaf(document: Any, path: list[str | int]) -> Any:
    for step in path:
        document = document[0] if isinstance(step, int) else document[step]
    return document


@given(numbers(), st.lists(keys | st.just(0), max_size=4).map(lambda p: ["any", *p]))
def test_a_number_under_any_key_at_any_depth_shows_only_its_last_four_digits(number, path):
    written, digits = number
    shown = _leaf(mask_bank_details(_under(path, written)), path)

    assert isinstance(shown, str)
    assert sum(ch.isdecimal() for ch in shown) == 4
    assert not DIGIT_RUN.search(shown)
    assert shown.endswith(digits[-4:])


@given(st.integers(min_value=100_000) | st.integers(max_value=-100_000))
def test_an_integer_is_masked_as_text(number):
    shown = mask_digits(number)
    assert shown.endswith(str(abs(number))[-4:]) and shown.startswith("****")


@given(documents)
def test_masking_twice_changes_nothing(document):
    once = mask_bank_details(document)
    assert mask_bank_details(once) == once


@given(
    st.text(alphabet="0123456789 -ABC", max_size=20).filter(lambda t: sum(map(str.isdigit, t)) < 6)
)
def test_fewer_than_six_digits_stay_visible(text):
    assert mask_digits(text) == text


def test_bank_details_as_a_client_may_name_them():
    details = {
        "bankName": "First Bank 24",
        "holder": {"name": "Ada Lovelace", "verified": True, "middle": None},
        "pan": "4111 1111 1111 1111",
        "bban": "NWBK60161331926819",
        "iban": "GB29 NWBK 6016 1331 9268 19",
        "acctNo": "12345678",
        "accountNo": Decimal("12345678.9012"),
        "big": Decimal("1.2E+11"),
        "sortCode": "12-34-56",
        "branch": "0042",
        "cards": [4111111111111111, {"cvvLike": "123"}],
    }

    assert payment_mask(details) == {
        "bankName": "First Bank 24",
        "holder": {"name": "Ada Lovelace", "verified": True, "middle": None},
        "pan": "***************1111",
        "bban": "**************6819",
        "iban": "***********************6819",
        "acctNo": "****5678",
        "accountNo": "*********9012",
        "big": "********0000",
        "sortCode": "****3456",
        "branch": "0042",
        "cards": ["************1111", {"cvvLike": "123"}],
    }
    assert payment_mask(None) is None
