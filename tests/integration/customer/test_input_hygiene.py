"""What a customer's record may hold (issue 14): readable text, an address type from the list,
a birth date of someone alive, amounts written plainly, and no country or document type
assumed. Each refusal is a 400 naming the field, and nothing is stored."""

from __future__ import annotations

import asyncpg
import pytest

from elms.customer.domain import AddressType
from tests.integration.customer.helpers import (
    CUSTOMERS,
    create_customer,
    customer_body,
    data,
    error_code,
    error_fields,
    execute,
    fetchval,
    parse,
)

LONDON = {"street": "221B Baker St", "city": "London", "state": "LDN", "zipCode": "NW1 6XE"}


async def _refused(service, body: dict) -> list[str]:
    """POST a customer that must be refused; the fields named. Nothing may have been stored."""
    response = await service.client.post(CUSTOMERS, json=body)
    assert response.status_code == 400, response.text
    assert error_code(response) == "VALIDATION_ERROR"
    assert await fetchval(service, "SELECT count(*) FROM customers") == 0
    return error_fields(response)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("firstName", "Ada\x1b[2J\x1b[31mHACKED"),  # clears the screen of whoever reads it
        ("lastName", "Lovelace\u202egnp.exe"),  # RIGHT-TO-LEFT OVERRIDE
        ("lastName", "Love\u200blace"),  # ZERO WIDTH SPACE
        ("firstName", "Ada\rEve"),
    ],
)
async def test_a_name_with_control_or_invisible_characters_is_refused(
    customer_service, field, value
):
    assert await _refused(customer_service, customer_body(**{field: value})) == [field]


async def test_an_address_line_with_an_escape_is_refused_under_its_own_name(customer_service):
    address = {**LONDON, "country": "GB", "city": "London\x1b]8;;http://evil/\x07"}

    assert await _refused(customer_service, customer_body(address=address)) == ["address.city"]


async def test_an_address_type_is_one_of_the_list(customer_service):
    body = customer_body(address={**LONDON, "country": "GB", "addressType": "my summer house"})

    assert await _refused(customer_service, body) == ["address.addressType"]

    kept = await create_customer(
        customer_service.client, address={**LONDON, "country": "GB", "addressType": "WORK"}
    )
    assert kept["addresses"][0]["addressType"] == "WORK"


async def test_the_database_holds_address_types_to_the_same_list(customer_service):
    customer = await create_customer(customer_service.client, address={**LONDON, "country": "GB"})
    insert = (
        "INSERT INTO customer_addresses (customer_id, address_type, street, city, state,"
        " zip_code, country) VALUES ($1, $2, 'x', 'x', 'x', 'x', 'x')"
    )

    for kind in AddressType:
        await execute(customer_service, insert, customer["customerId"], kind.value)
    with pytest.raises(asyncpg.CheckViolationError):
        await execute(customer_service, insert, customer["customerId"], "my summer house")


@pytest.mark.parametrize("born", ["1800-01-01", "1899-12-31", "0001-01-01"])
async def test_a_birth_date_before_1900_is_refused(customer_service, born):
    assert await _refused(customer_service, customer_body(dateOfBirth=born)) == ["dateOfBirth"]


async def test_a_birth_date_of_1900_is_accepted(customer_service):
    customer = await create_customer(customer_service.client, dateOfBirth="1900-01-01")
    assert customer["dateOfBirth"] == "1900-01-01"


@pytest.mark.parametrize("amount", [" 5.00 ", "+5.00", "5e3", "1_000.00", "５.00"])
async def test_an_amount_written_loosely_is_refused(customer_service, amount):
    assert await _refused(customer_service, customer_body(creditLimit=amount)) == ["creditLimit"]


async def test_an_address_without_a_country_is_refused_not_placed_in_the_usa(customer_service):
    assert await _refused(customer_service, customer_body(address=LONDON)) == ["address.country"]

    customer = await create_customer(customer_service.client, address={**LONDON, "country": "GB"})
    assert customer["addresses"][0]["country"] == "GB"


async def test_an_identification_number_needs_its_type(customer_service):
    body = customer_body(identificationNumber="533 12 345")

    assert await _refused(customer_service, body) == ["identificationType"]


async def test_a_customer_without_identification_has_no_type_assumed(customer_service):
    response = await customer_service.client.post(CUSTOMERS, json=customer_body())

    assert response.status_code == 201, response.text
    assert data(response)["identificationType"] is None
    assert "identificationType" in parse(response)["data"]
