"""Pydantic building blocks shared by the services' request and response models."""

from __future__ import annotations

import unicodedata
from decimal import Decimal
from typing import Annotated, Any, Generic, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from elms.core.money import MoneyFormatError, parse_exact, parse_money

# An identifier a client may give (customerId, applicationId, paymentId, references): letters,
# digits and a few separators, never anything that could act as a path or markup.
Identifier = Annotated[
    str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,254}$")
]


# Characters nobody types into a name or a note, and that act on whoever reads it in a terminal,
# a log or a letter: C0 and C1 controls (ESC begins every ANSI escape sequence, CR rewrites the
# line it is on), bidirectional overrides and other invisible formatting (a name that reads
# otherwise than it is stored), lone surrogates, and the Unicode line and paragraph separators.
_UNREADABLE = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
# The zero-width joiner and non-joiner are how Persian, Arabic and Indic names are spelled.
_JOINERS = "\u200c\u200d"


def _unreadable_at(text: str, allowed: str) -> tuple[int, str] | None:
    if text.isprintable():  # the common case, in C: no control, format or separator at all
        return None
    for position, char in enumerate(text):
        if char not in allowed and unicodedata.category(char) in _UNREADABLE:
            return position, char
    return None


def _readable(text: str, allowed: str) -> str:
    found = _unreadable_at(text, allowed)
    if found is not None:
        position, char = found
        raise PydanticCustomError(
            "unreadable_character",
            "must not contain control or invisible formatting characters"
            " ({character} at position {position})",
            {"character": f"U+{ord(char):04X}", "position": position},
        )
    return text


def _one_line(text: str) -> str:
    return _readable(text, _JOINERS)


def _multiline(text: str) -> str:
    return _readable(text, _JOINERS + "\n\t")


def _readable_json(value: Any) -> Any:
    """Every key and text of a free-form JSON object, at any depth, as readable as a note."""
    if isinstance(value, str):
        _multiline(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            _one_line(key)
            _readable_json(item)
    elif isinstance(value, list):
        for item in value:
            _readable_json(item)
    return value


# Markers for the text of a request, beside its StringConstraints: `ONE_LINE` for names,
# addresses, purposes and references; `MULTILINE` for notes and reasons, which may also hold
# line feeds and tabs; `READABLE_JSON` for a free-form object (employment details, bank details).
ONE_LINE = AfterValidator(_one_line)
MULTILINE = AfterValidator(_multiline)
READABLE_JSON = AfterValidator(_readable_json)


class CamelModel(BaseModel):
    """camelCase on the wire, snake_case in Python (api.md §1 "Names and types"). Answers are
    built from rows by their snake_case names."""

    model_config = ConfigDict(
        alias_generator=to_camel, validate_by_name=True, validate_by_alias=True
    )

    def wire(self) -> dict[str, Any]:
        """The JSON-ready form: camelCase keys, Decimal and dates kept for the exact encoder."""
        return self.model_dump(by_alias=True)


class WireModel(CamelModel):
    """A request body: read by its camelCase names only, and nothing else. Were `credit_limit`
    read as `creditLimit`, a gateway rule that guards `creditLimit` would miss it; an unknown
    field is a 400 naming it, never silently dropped."""

    model_config = ConfigDict(validate_by_name=False, extra="forbid")


def _exact_money(value: Any) -> Decimal:
    try:
        return parse_money(value)
    except MoneyFormatError as error:
        raise PydanticCustomError("money", str(error)) from error


def _exact_rate(value: Any) -> Decimal:
    try:
        return parse_exact(value, places=4, limit=Decimal("9.9999"), what="rate")
    except MoneyFormatError as error:
        raise PydanticCustomError("rate", str(error)) from error


# An annual interest rate as the loans table holds it: DECIMAL(5,4), read exactly.
Rate = Annotated[Decimal, BeforeValidator(_exact_rate)]

# An amount as api.md §1 reads it: exact, two decimals at most, within NUMERIC(15,2).
Money = Annotated[Decimal, BeforeValidator(_exact_money)]
PositiveMoney = Annotated[Money, Field(gt=0)]
NonNegativeMoney = Annotated[Money, Field(ge=0)]

T = TypeVar("T")


class Page(CamelModel, Generic[T]):
    content: list[T]
    page: int
    size: int
    total_elements: int
    total_pages: int

    @classmethod
    def of(cls, content: list[T], page: int, size: int, total: int) -> Page[T]:
        return cls(
            content=content,
            page=page,
            size=size,
            total_elements=total,
            total_pages=(total + size - 1) // size,
        )


class IncomingEvent(WireModel):
    """An outbox event as the relay delivers it (elms.core.outbox). A tolerant reader: a field
    a newer sender adds must not make this service refuse the event for good."""

    model_config = ConfigDict(extra="ignore")

    event_id: Annotated[int, Field(ge=1, le=2**63 - 1)]
    event_type: Annotated[str, Field(min_length=1, max_length=100)]
    source_service: Annotated[str, Field(min_length=1, max_length=100)]
    entity_type: Annotated[str, Field(min_length=1, max_length=100)]
    entity_id: Annotated[str, Field(min_length=1, max_length=255)]
    data: dict[str, Any]
