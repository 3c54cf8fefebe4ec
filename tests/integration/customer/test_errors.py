"""Refusals in the envelope (api.md §1): every validation problem at once with its field, bad
input always 4xx and never 500."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.integration.customer.helpers import (
    CUSTOMERS,
    create_customer,
    customer_body,
    error_code,
    error_fields,
    fetchval,
    parse,
    post_raw,
    utc_today,
    years_ago,
)


async def _customer_count(service) -> int:
    return await fetchval(service, "SELECT count(*) FROM customers")


async def test_every_validation_problem_is_reported_at_once_with_its_field(customer_service):
    response = await customer_service.client.post(
        CUSTOMERS,
        json=customer_body(
            email="not-an-email",
            creditScore=900,
            dateOfBirth=years_ago(17).isoformat(),
        ),
    )

    assert response.status_code == 400
    body = parse(response)
    assert body["status"] == "ERROR"
    assert body["data"] is None
    assert body["error"]["code"] == "VALIDATION_ERROR"
    assert body["metadata"]["requestId"]
    details = body["error"]["details"]
    assert len(details) == 3
    assert sorted(d["field"] for d in details) == ["creditScore", "dateOfBirth", "email"]
    assert all(d["message"] for d in details)
    by_field = {d["field"]: d for d in details}
    assert by_field["creditScore"]["rejectedValue"] == 900
    assert by_field["email"]["rejectedValue"] == "not-an-email"
    assert await _customer_count(customer_service) == 0


async def test_many_problems_of_one_request_are_all_reported(customer_service):
    response = await customer_service.client.post(
        CUSTOMERS,
        json={
            "firstName": "",
            "lastName": "x" * 101,
            "email": "a@b",
            "phone": "12ab",
            "identificationType": "LIBRARY_CARD",
            "creditLimit": "-1",
            "annualIncome": "-1",
            "employmentStatus": "ASTRONAUT",
            "creditScore": 299,
        },
    )

    assert response.status_code == 400
    assert sorted(error_fields(response)) == [
        "annualIncome",
        "creditLimit",
        "creditScore",
        "email",
        "employmentStatus",
        "firstName",
        "identificationType",
        "lastName",
        "phone",
    ]


async def test_required_fields_are_reported_missing(customer_service):
    response = await customer_service.client.post(CUSTOMERS, json={})

    assert response.status_code == 400
    assert sorted(error_fields(response)) == ["email", "firstName", "lastName"]


@pytest.mark.parametrize(
    ("field", "value"),
    [("identificationType", "LIBRARY_CARD"), ("employmentStatus", "employed")],
)
async def test_an_unknown_enum_value_is_refused(customer_service, field, value):
    response = await customer_service.client.post(CUSTOMERS, json=customer_body(**{field: value}))

    assert response.status_code == 400
    assert error_code(response) == "VALIDATION_ERROR"
    assert error_fields(response) == [field]


@pytest.mark.parametrize(
    "identification_type", ["SSN", "PASSPORT", "DRIVER_LICENSE", "NATIONAL_ID", "TAX_ID"]
)
async def test_every_identification_type_is_accepted(customer_service, identification_type):
    response = await customer_service.client.post(
        CUSTOMERS, json=customer_body(identificationType=identification_type)
    )

    assert response.status_code == 201, response.text


async def test_a_customer_turning_18_today_is_accepted(customer_service):
    response = await customer_service.client.post(
        CUSTOMERS, json=customer_body(dateOfBirth=years_ago(18).isoformat())
    )

    assert response.status_code == 201, response.text


async def test_a_customer_turning_18_tomorrow_is_refused(customer_service):
    born = years_ago(18) + timedelta(days=1)

    response = await customer_service.client.post(
        CUSTOMERS, json=customer_body(dateOfBirth=born.isoformat())
    )

    assert response.status_code == 400
    assert error_fields(response) == ["dateOfBirth"]


async def test_a_birth_date_in_the_future_is_refused(customer_service):
    tomorrow = utc_today() + timedelta(days=1)

    response = await customer_service.client.post(
        CUSTOMERS, json=customer_body(dateOfBirth=tomorrow.isoformat())
    )

    assert response.status_code == 400
    assert error_fields(response) == ["dateOfBirth"]


@pytest.mark.parametrize("phone", ["+14155550123", "4155550123", "+442071838750"])
async def test_an_e164_like_phone_is_accepted(customer_service, phone):
    response = await customer_service.client.post(CUSTOMERS, json=customer_body(phone=phone))

    assert response.status_code == 201, response.text


@pytest.mark.parametrize("phone", ["+0123456789", "12345", "+1 415 555 0123", "+1234567890123456"])
async def test_a_phone_that_is_not_e164_like_is_refused(customer_service, phone):
    response = await customer_service.client.post(CUSTOMERS, json=customer_body(phone=phone))

    assert response.status_code == 400
    assert error_fields(response) == ["phone"]


async def test_names_of_100_characters_are_accepted_and_101_refused(customer_service):
    client = customer_service.client

    accepted = await client.post(CUSTOMERS, json=customer_body(firstName="a" * 100))
    refused = await client.post(CUSTOMERS, json=customer_body(firstName="a" * 101))

    assert accepted.status_code == 201, accepted.text
    assert refused.status_code == 400
    assert error_fields(refused) == ["firstName"]


@pytest.mark.parametrize(
    "raw",
    [
        '{"firstName": "Ada",',
        "{firstName: 'Ada'}",
        '{"firstName": "Ada"} trailing',
        "not json at all",
        '{"creditLimit": NaN, "firstName": "A", "lastName": "B", "email": "a@example.com"}',
        '{"creditLimit": Infinity, "firstName": "A", "lastName": "B", "email": "a@example.com"}',
    ],
)
async def test_malformed_json_is_a_malformed_request(customer_service, raw):
    response = await post_raw(customer_service.client, CUSTOMERS, raw)

    assert response.status_code == 400, response.text
    body = parse(response)
    assert body["status"] == "ERROR"
    assert body["error"]["code"] == "MALFORMED_REQUEST"
    assert body["metadata"]["requestId"]
    assert await _customer_count(customer_service) == 0


async def test_malformed_json_on_a_credit_endpoint_is_a_malformed_request(customer_service):
    cid = (await create_customer(customer_service.client))["customerId"]

    response = await post_raw(
        customer_service.client,
        f"{CUSTOMERS}/{cid}/credit/reserve",
        '{"amount": 10.00, "purpose": ',
        headers={"Idempotency-Key": "malformed-1"},
    )

    assert response.status_code == 400
    assert error_code(response) == "MALFORMED_REQUEST"


@pytest.mark.parametrize("raw", ["[]", '"text"', "42", "null"])
async def test_a_json_body_that_is_not_an_object_is_refused(customer_service, raw):
    response = await post_raw(customer_service.client, CUSTOMERS, raw)

    assert response.status_code == 400
    assert error_code(response) == "VALIDATION_ERROR"
    assert error_fields(response) == ["body"]


async def test_a_nul_character_in_the_body_is_refused_not_a_crash(customer_service):
    response = await post_raw(
        customer_service.client,
        CUSTOMERS,
        '{"firstName": "Ada\\u0000", "lastName": "L", "email": "nul@example.com"}',
    )

    assert response.status_code == 400, response.text
    assert error_code(response) == "VALIDATION_ERROR"
    assert await _customer_count(customer_service) == 0


@pytest.mark.parametrize(
    "path",
    [f"{CUSTOMERS}?q=%00", f"{CUSTOMERS}/%00", f"{CUSTOMERS}/%00/credit/history"],
)
async def test_a_nul_character_in_the_url_is_refused_not_a_crash(customer_service, path):
    response = await customer_service.client.get(path)

    # Refused before any route sees it (elms.core.canonical), so it never reaches the database.
    assert response.status_code == 400, response.text
    assert error_code(response) == "NON_CANONICAL_REQUEST"


async def test_a_page_number_too_large_for_the_database_is_refused(customer_service):
    response = await customer_service.client.get(CUSTOMERS, params={"page": "99999999999999999999"})

    assert response.status_code == 400, response.text
    assert error_fields(response) == ["page"]


async def test_the_last_representable_date_is_a_valid_history_bound(customer_service):
    cid = (await create_customer(customer_service.client))["customerId"]

    response = await customer_service.client.get(
        f"{CUSTOMERS}/{cid}/credit/history",
        params={"fromDate": "0001-01-01", "toDate": "9999-12-31"},
    )

    assert response.status_code == 200, response.text
    assert parse(response)["data"]["totalElements"] == 1


async def test_a_request_id_given_by_the_caller_is_returned(customer_service):
    response = await customer_service.client.get(
        f"{CUSTOMERS}/CUST-NOPE", headers={"X-Request-ID": "caller-req-42"}
    )

    assert response.status_code == 404
    assert response.headers["x-request-id"] == "caller-req-42"
    assert parse(response)["metadata"]["requestId"] == "caller-req-42"


async def test_an_unknown_path_is_not_found_in_the_envelope(customer_service):
    response = await customer_service.client.get("/api/v1/customerz")

    assert response.status_code == 404
    assert error_code(response) == "NOT_FOUND"


async def test_an_unsupported_method_is_refused_in_the_envelope(customer_service):
    response = await customer_service.client.patch(f"{CUSTOMERS}/CUST-1", json={})

    assert response.status_code == 405
    assert error_code(response) == "METHOD_NOT_ALLOWED"
