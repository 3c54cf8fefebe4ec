"""Request bodies are read by their camelCase names only (elms.core.schemas.WireModel): a field
under its Python name is refused, never read, so no rule guarding the camelCase name can be
walked around (docs/decisions.md, "Envelope and errors")."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

import elms.customer.schemas
import elms.gateway.saga.schemas
import elms.loan.schemas
import elms.payment.schemas
from elms.core.schemas import WireModel

TOLERANT = {"PreviewRequest", "SagaOptions", "IncomingEvent"}


def _all(cls: type) -> list[type]:
    return [c for sub in cls.__subclasses__() for c in (sub, *_all(sub))]


MODELS = sorted({m for m in _all(WireModel)}, key=lambda m: m.__name__)
RENAMED = [
    pytest.param(model, name, field.alias, id=f"{model.__name__}.{name}")
    for model in MODELS
    for name, field in model.model_fields.items()
    if field.alias and field.alias != name
]


def test_every_request_model_is_found():
    names = {m.__name__ for m in MODELS}
    assert {"CustomerUpdate", "LoanRequest", "PaymentRequest", "ApplyPaymentRequest"} <= names
    assert names >= TOLERANT


@pytest.mark.parametrize(("model", "name", "alias"), RENAMED)
def test_a_field_under_its_python_name_is_never_read(model, name, alias):
    try:
        read = model.model_validate({name: "x"})
    except ValidationError as error:
        problems = {(p["type"], p["loc"][0]) for p in error.errors()}
        assert ("missing", name) not in problems
        if model.__name__ not in TOLERANT:
            assert ("extra_forbidden", name) in problems
        return
    # Only a tolerant model may take the body, and then without reading the field.
    assert model.__name__ in TOLERANT
    assert name not in read.model_fields_set


def test_an_unknown_field_of_a_strict_model_is_named():
    with pytest.raises(ValidationError) as raised:
        elms.customer.schemas.CustomerUpdate.model_validate({"version": 1, "availableCredit": 1})
    assert [(p["type"], p["loc"]) for p in raised.value.errors()] == [
        ("extra_forbidden", ("availableCredit",))
    ]
