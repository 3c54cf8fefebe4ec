"""JSON in and out without binary floating point: numbers with a fraction read as Decimal, and
Decimal written as a JSON number, digit for digit (api.md §1 "Money")."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

import simplejson

from elms.core.clock import iso_utc


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso_utc(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps(value: Any, *, sort_keys: bool = False) -> str:
    """Decimal is written with its own digits (``Decimal('12.30')`` → ``12.30``)."""
    return simplejson.dumps(
        value,
        use_decimal=True,
        default=_default,
        separators=(",", ":"),
        ensure_ascii=False,
        sort_keys=sort_keys,
    )


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def loads(text: str | bytes) -> Any:
    """Every number with a fraction or an exponent becomes a Decimal; integers stay int.

    Raises `ValueError` (`json.JSONDecodeError` mostly) for malformed input, nesting too deep
    included, which the web layer turns into 400.
    NaN and Infinity, which Python's reader would otherwise accept, are malformed too.
    """
    try:
        return json.loads(text, parse_float=Decimal, parse_constant=_reject_constant)
    except RecursionError as error:
        # Nesting deeper than the parser's stack: malformed for us, never a crash.
        raise ValueError("JSON nested too deeply") from error
