"""What the contract run (tests/contract) found the gateway answering otherwise than its
document says, each kept fixed: OPTIONS is a method the path does not take (405 with the
path's own methods), a path naming what no identifier can be names nothing (404), a day is
YYYY-MM-DD and a yes or no is true or false. And the document and its pages are served."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/api/v1/customers", "GET, POST"),
        # The calculator's path, which `/loans/{loanId}` would also read as a loan called so.
        ("/api/v1/loans/preview", "POST"),
        ("/api/v1/payments/calculate", "POST"),
        ("/api/v1/saga/history", "GET"),
    ],
)
async def test_options_is_refused_naming_the_methods_the_path_takes(gateway, path, allowed):
    answer = await gateway.client.options(path)
    assert answer.status_code == 405, answer.text
    assert answer.headers["allow"] == allowed
    assert answer.json()["error"]["code"] == "METHOD_NOT_ALLOWED"


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/loans/customer/%C2%84",
        "/api/v1/payments/customer/a%20b",
        "/api/v1/payments/loan/-LOAN",
        "/api/v1/saga/states/%C3%A9",
    ],
)
async def test_a_path_naming_no_possible_identifier_finds_nothing(gateway, path):
    answer = await gateway.client.get(path)
    assert answer.status_code == 404, answer.text
    assert answer.json()["error"]["code"] == "NOT_FOUND"


@pytest.mark.parametrize("day", ["0", "20260101", "1700000000"])
async def test_a_day_in_a_query_is_written_as_a_date(gateway, day):
    answer = await gateway.client.get(f"/api/v1/saga/history?toDate={day}")
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["details"][0]["field"] == "toDate"


async def test_a_day_in_a_body_is_written_as_a_date(gateway):
    answer = await gateway.client.post(
        "/api/v1/customers",
        json={"firstName": "Day", "lastName": "One", "email": "d1@example.com", "dateOfBirth": 0},
    )
    assert answer.status_code == 400, answer.text
    assert [d["field"] for d in answer.json()["error"]["details"]] == ["dateOfBirth"]


async def test_a_yes_or_no_is_true_or_false(gateway):
    created = await gateway.client.post(
        "/api/v1/customers",
        json={"firstName": "Flag", "lastName": "Zero", "email": "f0@example.com"},
    )
    assert created.status_code == 201, created.text
    customer = created.json()["data"]["customerId"]
    answer = await gateway.client.post(
        f"/api/v1/customers/{customer}/addresses",
        json={
            "street": "1 Main St",
            "city": "Springfield",
            "state": "IL",
            "zipCode": "62701",
            "country": "US",
            "isPrimary": 0,
        },
    )
    assert answer.status_code == 400, answer.text
    assert [d["field"] for d in answer.json()["error"]["details"]] == ["isPrimary"]


async def test_the_saga_history_takes_only_the_saga_types_there_are(gateway):
    answer = await gateway.client.get("/api/v1/saga/history?sagaType=OTHER")
    assert answer.status_code == 400, answer.text
    known = await gateway.client.get("/api/v1/saga/history?sagaType=PAYMENT_PROCESSING")
    assert known.status_code == 200, known.text


async def test_the_gateway_serves_its_document_and_its_pages(gateway):
    document = await gateway.client.get("/openapi.json")
    assert document.status_code == 200
    assert document.json()["info"]["title"] == "ELMS API"
    for page in ("/docs", "/redoc"):
        answer = await gateway.client.get(page)
        assert answer.status_code == 200
        assert "img-src 'self' data:" in answer.headers["content-security-policy"]
    # An API answer keeps the strict policy.
    api = await gateway.client.get("/api/v1/saga/history")
    assert api.headers["content-security-policy"] == "default-src 'self'"
