"""What may stay visible of a number that identifies an account or a card, pure.

Bank details are masked by what they hold, not by what their keys are called: a client may name
a card number `pan`, an account `bban` or `acctNo`, or send it as a JSON number. Any value with
six or more digits (counted across spaces, hyphens, dots and other separators, so an IBAN in
groups and a sort code `12-34-56` count) keeps only its last four digits. Shorter values (a bank's
or holder's name, a branch code) stay as they are. Masking twice changes nothing: a masked value
shows four digits."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

# At least this many digits make a value a number to hide.
MIN_DIGITS = 6
VISIBLE_DIGITS = 4


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdecimal())


def mask(text: str) -> str:
    """The masking style of ELMS: a star for each hidden character (four at least), then what
    stays visible (`123456789012` → `********9012`)."""
    visible = text[-VISIBLE_DIGITS:] if len(text) > VISIBLE_DIGITS else ""
    return "*" * max(len(text) - len(visible), VISIBLE_DIGITS) + visible


def mask_digits(value: Any) -> Any:
    """A scalar with six or more digits as a string of stars and its last four digits
    (`"GB29 NWBK 6016 1331 9268 19"` → `"***********************6819"`); anything else as it is.
    Booleans and null are never numbers here."""
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        return value
    # A Decimal in plain notation: 1.2E+11 has the digits of 120000000000.
    text = format(value, "f") if isinstance(value, Decimal) else str(value)
    digits = _digits(text)
    if len(digits) < MIN_DIGITS:
        return value
    return "*" * max(len(text) - VISIBLE_DIGITS, VISIBLE_DIGITS) + digits[-VISIBLE_DIGITS:]


def mask_bank_details(details: Any) -> Any:
    """Every scalar holding a number masked, whatever its key, at any depth (objects, lists)."""
    if isinstance(details, dict):
        return {key: mask_bank_details(value) for key, value in details.items()}
    if isinstance(details, list):
        return [mask_bank_details(value) for value in details]
    return mask_digits(details)
