"""Exact money: Decimal only, rounded half-up to the cent where the rules say, nowhere else."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
# NUMERIC(15,2): thirteen digits before the point, two after.
MAX_AMOUNT = Decimal("9999999999999.99")
# A number as a string: ASCII digits, an optional '-' and fraction, no leading zeros, nothing
# else. Python's Decimal() would also take " 5 ", "+5", "1_000", "1e2", ".5" and non-ASCII
# digits ("٥"), none of which a client sends on purpose; the sign is read so that a negative
# amount is refused by its field's bound with the same message as the number -5.
_PLAIN_DECIMAL = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?")
# Longer than any amount or rate; refused before Decimal() reads it.
_MAX_TEXT = 40


class MoneyFormatError(ValueError):
    """An amount that is not an exact decimal of at most two places within NUMERIC(15,2)."""


def cents(value: Decimal) -> Decimal:
    """Round half-up to the cent: the one rounding of ELMS money."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def parse_money(value: object) -> Decimal:
    """Read an amount exactly from a Decimal, an int or a plain decimal string ("12.50").

    Floats and booleans are refused: a float has already lost the digits the client sent.
    More than two decimal places, non-finite values and amounts beyond NUMERIC(15,2) are refused
    rather than rounded, because rounding a client's amount would move money they did not send.
    """
    return parse_exact(value, places=2, limit=MAX_AMOUNT, what="amount")


def parse_exact(value: object, *, places: int, limit: Decimal, what: str) -> Decimal:
    """A decimal of at most `places` places and at most `limit` in size, read exactly."""
    if isinstance(value, bool | float):
        raise MoneyFormatError(f"{what} must be an exact decimal number, not a float")
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, str):
        if len(value) > _MAX_TEXT:
            raise MoneyFormatError(f"{what} must be at most {_MAX_TEXT} characters")
        if not _PLAIN_DECIMAL.fullmatch(value):
            raise MoneyFormatError(
                f"{what} must be a plain decimal such as 12.50 (digits, at most one '.',"
                " no spaces, '+' or exponent)"
            )
        number = Decimal(value)
    else:
        raise MoneyFormatError(f"{what} must be a number")
    if not number.is_finite():
        raise MoneyFormatError(f"{what} must be a finite number")
    if abs(number) > limit:
        raise MoneyFormatError(f"{what} exceeds {limit}")
    step = Decimal(1).scaleb(-places)
    # 1.230 is accepted as 1.23 (the same exact value); 1.234 is refused.
    if number != number.quantize(step):
        raise MoneyFormatError(f"{what} must have at most {places} decimal places")
    return number.quantize(step)
