"""Text a client sends is text people can read (elms.core.schemas ONE_LINE, MULTILINE,
READABLE_JSON): no control characters, ANSI escapes, bidirectional overrides or other invisible
formatting, in any field of any request model, so none reaches a terminal, a log or a letter."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

import elms.customer.schemas
import elms.gateway.saga.schemas
import elms.loan.product_schemas
import elms.loan.schemas
import elms.payment.schemas
from elms.core.schemas import WireModel
from elms.customer.schemas import AddressIn, CustomerCreate, ReleaseCreditRequest
from elms.loan.schemas import LoanRequest

# An outbox event is written by ELMS's own services from values they have already checked.
OWN_TRAFFIC = {"IncomingEvent"}
ANSI_RED = "Ada\x1b[31m Lovelace"


def _all(cls: type) -> list[type]:
    return [c for sub in cls.__subclasses__() for c in (sub, *_all(sub))]


FIELDS = [
    pytest.param(model, field.alias or name, id=f"{model.__name__}.{name}")
    for model in sorted(set(_all(WireModel)), key=lambda m: m.__name__)
    if model.__name__ not in OWN_TRAFFIC
    for name, field in model.model_fields.items()
]


def _refused_fields(model: type, body: dict) -> set[str]:
    try:
        model.model_validate(body)
    except ValidationError as error:
        return {str(p["loc"][0]) for p in error.errors() if p["loc"]}
    return set()


@pytest.mark.parametrize(("model", "alias"), FIELDS)
def test_no_field_of_a_request_takes_an_ansi_escape(model, alias):
    assert alias in _refused_fields(model, {alias: ANSI_RED})
    assert alias in _refused_fields(model, {alias: {"note": ANSI_RED}})
    assert alias in _refused_fields(model, {alias: [ANSI_RED]})


def _problem(model: type, body: dict) -> dict:
    with pytest.raises(ValidationError) as raised:
        model.model_validate(body)
    [problem] = raised.value.errors()
    return problem


def _address(**fields: str) -> dict:
    return {"street": "1 Main St", "city": "London", "state": "LDN", "zipCode": "N1 9GU",
            "country": "GB", **fields}  # fmt: skip


@pytest.mark.parametrize(
    "spoof",
    [
        "Ali\u202ece",  # RIGHT-TO-LEFT OVERRIDE: reads "Aliec" backwards from here
        "Ali\u2066ce",  # LEFT-TO-RIGHT ISOLATE
        "Ali\u200fce",  # RIGHT-TO-LEFT MARK
        "Ali\u200bce",  # ZERO WIDTH SPACE
        "Ali\u00adce",  # SOFT HYPHEN
        "Ali\ufeffce",  # BYTE ORDER MARK
        "Ali\u0085ce",  # NEXT LINE (C1)
        "Ali\u009b31mce",  # the one-byte CSI of an ANSI sequence (C1)
        "Ali\u2028ce",  # LINE SEPARATOR
        "Ali\rce",
        "Ali\nce",
        "Ali\tce",
        "Ali\x00ce",
        "Ali\x7fce",
    ],
)
def test_a_name_with_a_control_or_invisible_character_is_refused_naming_it(spoof):
    problem = _problem(AddressIn, _address(city=spoof))

    assert problem["loc"] == ("city",)
    assert problem["type"] == "unreadable_character"
    assert f"U+{ord(spoof[3]):04X} at position 3" in problem["msg"]


@pytest.mark.parametrize(
    "name",
    [
        "Zoë O'Brien-Smith",
        "Mehr\u200cnaz",  # ZERO WIDTH NON-JOINER, as Persian spells it
        "क्\u200dष",  # ZERO WIDTH JOINER in Devanagari
        "José\u00a0María",  # NO-BREAK SPACE
        "李小龍",
        "Ada 🚀",
    ],
)
def test_names_as_people_write_them_are_accepted(name):
    read = CustomerCreate.model_validate(
        {"firstName": name, "lastName": "Test", "email": "x@example.com"}
    )
    assert read.first_name == name


def test_a_note_may_have_lines_and_tabs_but_no_carriage_return_or_escape():
    note = "Line one\n\tLine two"
    read = ReleaseCreditRequest.model_validate({"reservationId": "RES-1", "notes": note})
    assert read.notes == note
    for bad in ("Line one\r\nLine two", "Line one\x1b[2J"):
        problem = _problem(ReleaseCreditRequest, {"reservationId": "RES-1", "notes": bad})
        assert problem["loc"] == ("notes",)


def test_free_form_details_are_readable_in_every_key_and_value_at_any_depth():
    base = {
        "customerId": "CUST-1",
        "loanAmount": "1000.00",
        "interestRate": "0.12",
        "installmentCount": 12,
        "loanType": "PERSONAL",
    }
    fine = {"employer": "ACME\nLondon", "years": 3, "history": [{"role": "Clerk"}]}
    assert LoanRequest.model_validate({**base, "employmentDetails": fine}).employment_details

    for bad in (
        {"employer": "ACME\x1b[8m"},
        {"history": [{"role": "Clerk\u202e"}]},
        {"emp\x1bloyer": "ACME"},
    ):
        problem = _problem(LoanRequest, {**base, "employmentDetails": bad})
        assert problem["loc"] == ("employmentDetails",)
        assert problem["type"] == "unreadable_character"


def test_every_service_module_is_covered():
    # The modules imported above are where request models live; a new one is added here.
    covered = {model.__module__ for model, _ in (p.values for p in FIELDS)}
    assert covered == {
        elms.customer.schemas.__name__,
        elms.loan.schemas.__name__,
        elms.loan.product_schemas.__name__,
        elms.payment.schemas.__name__,
        elms.gateway.saga.schemas.__name__,
    }
