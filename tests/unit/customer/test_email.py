"""One form per email address, and no address made to pass for another (customer/schemas.py)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from elms.customer.schemas import CustomerCreate


def _email(value: str) -> str:
    return CustomerCreate(firstName="A", lastName="B", email=value).email


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("Uni1@Example.COM", "uni1@example.com"),
        (
            "\uff55\uff4e\uff49\uff11\uff20\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45.com",
            "uni1@example.com",
        ),
        ("uni1@\u043f\u0440\u0438\u043c\u0435\u0440.\u0440\u0444", "uni1@xn--e1afmkfd.xn--p1ai"),
        ("uni1@xn--e1afmkfd.xn--p1ai", "uni1@xn--e1afmkfd.xn--p1ai"),
        ("\u00fc@M\u00dcnchen.de", "\u00fc@xn--mnchen-3ya.de"),
        # Japanese writes Han, hiragana and katakana together in one word.
        ("a@\u3072\u3089\u304c\u306a\u6f22\u5b57.jp", "a@xn--v8j0cwa6gy22xv2ya.jp"),
        ("\u0438\u0432\u0430\u043d@example.com", "\u0438\u0432\u0430\u043d@example.com"),
    ],
)
def test_an_address_is_kept_in_one_form(sent, kept):
    assert _email(sent) == kept


@pytest.mark.parametrize(
    "sent",
    [
        "uni1@exam\u0440le.com",  # Cyrillic р
        "uni1@xn--examle-erf.com",  # the same, in its ASCII form
        "uni1@\u03b5xample.com",  # Greek ε
        "\u0438\u0432an@example.com",  # Cyrillic and Latin in the local part
    ],
)
def test_letters_of_two_scripts_in_one_label_are_refused(sent):
    with pytest.raises(ValidationError) as refused:
        _email(sent)
    assert refused.value.errors()[0]["loc"] == ("email",)
