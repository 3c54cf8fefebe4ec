"""Exact money: Decimal only, rounded half-up to the cent where the rules say, nowhere else."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
# NUMERIC(15,2): thirteen digits before the point, two after.
MAX_AMOUNT = Decimal("9999999999999.99")


class MoneyFormatError(ValueError):
    """An amount that is not an exact decimal of at most two places within NUMERIC(15,2)."""


def cents(value: Decimal) -> Decimal:
    """Round half-up to the cent: the one rounding of ELMS money."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def parse_money(value: object) -> Decimal:
    """Read an amount exactly from a Decimal, an int or a numeric string.

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
        try:
            number = Decimal(value.strip())
        except InvalidOperation as error:
            raise MoneyFormatError(f"{what} is not a number") from error
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
