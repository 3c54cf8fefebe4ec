"""A refusal repeats what it refuses once and briefly (elms.core.envelope): a 10 MB request never
gets a 10 MB (or 20 MB) answer."""

from __future__ import annotations

from tests.integration.customer.helpers import CUSTOMERS, customer_body, parse

TEN_MB = 10 * 1024 * 1024


async def test_a_ten_megabyte_field_is_refused_with_its_first_hundred_characters(
    customer_service,
):
    huge = "A" * 50 + "B" * (TEN_MB - 50)

    response = await customer_service.client.post(CUSTOMERS, json=customer_body(firstName=huge))

    assert response.status_code == 400
    assert len(response.content) < 2_000
    body = parse(response)
    [detail] = body["error"]["details"]
    assert detail["field"] == "firstName"
    assert detail["rejectedValue"] == "A" * 50 + "B" * 50
    assert detail["rejectedValueTruncated"] is True
    assert body["errors"] == [{"field": "firstName", "message": detail["message"]}]


async def test_a_ten_megabyte_field_name_is_named_by_its_first_hundred_characters(
    customer_service,
):
    name = "x" * TEN_MB

    response = await customer_service.client.post(CUSTOMERS, json={**customer_body(), name: 1})

    assert response.status_code == 400
    assert len(response.content) < 2_000
    [detail] = parse(response)["error"]["details"]
    assert detail["field"] == "x" * 100


async def test_a_number_of_a_million_digits_is_echoed_as_the_start_of_its_text(customer_service):
    raw = '{"firstName": "Ada", "lastName": "L", "email": "a@example.com", "creditScore": 1.%s}'
    response = await customer_service.client.post(
        CUSTOMERS,
        content=raw % ("5" * 1_000_000),
        headers={"content-type": "application/json"},
    )

    assert response.status_code == 400
    assert len(response.content) < 2_000
    [detail] = parse(response)["error"]["details"]
    assert detail["field"] == "creditScore"
    assert detail["rejectedValue"] == "1." + "5" * 98
    assert detail["rejectedValueTruncated"] is True


async def test_a_short_value_is_echoed_whole_once(customer_service):
    response = await customer_service.client.post(CUSTOMERS, json=customer_body(creditScore=900))

    assert response.status_code == 400
    body = parse(response)
    assert body["error"]["details"] == [
        {"field": "creditScore", "message": body["errors"][0]["message"], "rejectedValue": 900}
    ]
    assert "rejectedValue" not in body["errors"][0]
    assert response.text.count("900") == 1
