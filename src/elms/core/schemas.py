"""Pydantic building blocks shared by the services' request and response models."""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Generic, TypeVar, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    StringConstraints,
    WithJsonSchema,
)
from pydantic.alias_generators import to_camel
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError

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


_CALENDAR_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _calendar_day(value: Any) -> Any:
    """A day as a client writes one, YYYY-MM-DD: Pydantic alone would also read a number, or a
    string of digits, as a Unix time (`0` as 1970-01-01)."""
    if isinstance(value, date) or (isinstance(value, str) and _CALENDAR_DAY.fullmatch(value)):
        return value
    raise PydanticCustomError("date_format", "must be a date written as YYYY-MM-DD")


# A date in a request (body or query).
Day = Annotated[date, BeforeValidator(_calendar_day)]
# A yes or no in a request: true or false, never 0, 1 or "yes".
Flag = Annotated[bool, Field(strict=True)]


class CamelModel(BaseModel):
    """camelCase on the wire, snake_case in Python (api.md §1 "Names and types"). Answers are
    built from rows by their snake_case names."""

    model_config = ConfigDict(
        alias_generator=to_camel, validate_by_name=True, validate_by_alias=True
    )

    def wire(self) -> dict[str, Any]:
        """The JSON-ready form: camelCase keys, Decimal and dates kept for the exact encoder."""
        return self.model_dump(by_alias=True)

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        # An answer's Decimal is written as a JSON number, digit for digit (elms.core.jsoncodec),
        # where Pydantic's own JSON would write a string: the OpenAPI document says so.
        schema = handler(core_schema)
        if handler.mode == "serialization":
            properties = handler.resolve_ref_schema(schema).get("properties", {})
            _decimals_as_numbers(cls, properties)
        return schema


def _holds_decimal(annotation: Any) -> bool:
    """Decimal, or Decimal | None: the amounts and rates of an answer."""
    return annotation is Decimal or Decimal in get_args(annotation)


def _decimals_as_numbers(model: type[BaseModel], properties: dict[str, Any]) -> None:
    for name, info in model.model_fields.items():
        schema = properties.get(info.serialization_alias or info.alias or name)
        if schema is None or not _holds_decimal(info.annotation):
            continue
        for option in [schema, *schema.get("anyOf", [])]:
            if option.get("type") == "string":
                option["type"] = "number"


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


def exact_decimal_schema(
    places: int, digits: int, *, signed: bool, bounds: dict[str, Decimal]
) -> WithJsonSchema:
    """How a client may send an exact decimal, for the OpenAPI document: a JSON number, or a
    plain decimal string of at most `places` places (trailing zeros aside). What a schema
    cannot say (a JSON number's places) the description does; the service refuses it with 400."""
    sign = "-?" if signed else ""
    whole = f"(0|[1-9][0-9]{{0,{digits - 1}}})"
    number: dict[str, Any] = {"type": "number"}
    number.update({key: float(value) for key, value in bounds.items()})
    text = {"type": "string", "pattern": f"^{sign}{whole}(\\.[0-9]{{1,{places}}}0*)?$"}
    return WithJsonSchema(
        {
            "anyOf": [number, text],
            "description": f"An exact decimal of at most {places} decimal places, as a JSON "
            "number or a string (never read through binary floating point)",
        }
    )


# An annual interest rate as the loans table holds it: DECIMAL(5,4), read exactly.
Rate = Annotated[
    Decimal,
    BeforeValidator(_exact_rate),
    exact_decimal_schema(4, 1, signed=True, bounds={"maximum": Decimal("9.9999")}),
]

# An amount as api.md §1 reads it: exact, two decimals at most, within NUMERIC(15,2).
_MAX = Decimal("9999999999999.99")
Money = Annotated[
    Decimal,
    BeforeValidator(_exact_money),
    exact_decimal_schema(2, 13, signed=True, bounds={"minimum": -_MAX, "maximum": _MAX}),
]
PositiveMoney = Annotated[
    Money,
    Field(gt=0),
    exact_decimal_schema(2, 13, signed=False, bounds={"exclusiveMinimum": 0, "maximum": _MAX}),
]
NonNegativeMoney = Annotated[
    Money,
    Field(ge=0),
    exact_decimal_schema(2, 13, signed=False, bounds={"minimum": 0, "maximum": _MAX}),
]

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
