"""Customers: create, read, list and search (api.md §2)."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from tests.integration.customer.helpers import (
    CUSTOMERS,
    create_customer,
    customer_body,
    data,
    error_code,
    error_fields,
    fetch,
    history_rows,
    parse,
    post_raw,
    unique_email,
)

ISO_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")

# --- create ---------------------------------------------------------------------------------


async def test_creating_a_customer_answers_201_in_the_envelope(customer_service):
    response = await customer_service.client.post(
        CUSTOMERS,
        json=customer_body(
            firstName="Grace",
            lastName="Hopper",
            email="grace@example.com",
            phone="+14155550123",
            dateOfBirth="1980-12-09",
            identificationNumber="123-45-6789",
            identificationType="PASSPORT",
            creditLimit="25000.50",
            annualIncome="120000",
            employmentStatus="EMPLOYED",
            creditScore=700,
        ),
    )

    assert response.status_code == 201, response.text
    body = parse(response)
    assert body["status"] == "SUCCESS"
    assert body["errors"] == []
    assert ISO_UTC.match(body["timestamp"])
    assert body["metadata"]["requestId"]
    assert body["metadata"]["version"] == "v1"
    assert response.headers["x-request-id"] == body["metadata"]["requestId"]
    customer = body["data"]
    assert customer["customerId"].startswith("CUST-")
    assert customer["firstName"] == "Grace"
    assert customer["lastName"] == "Hopper"
    assert customer["email"] == "grace@example.com"
    assert customer["phone"] == "+14155550123"
    assert customer["dateOfBirth"] == "1980-12-09"
    assert customer["identificationNumber"] == "123-45-6789"
    assert customer["identificationType"] == "PASSPORT"
    assert customer["creditLimit"] == Decimal("25000.50")
    assert customer["availableCredit"] == Decimal("25000.50")
    assert customer["usedCredit"] == Decimal("0.00")
    assert customer["annualIncome"] == Decimal("120000.00")
    assert customer["employmentStatus"] == "EMPLOYED"
    assert customer["creditScore"] == 700
    assert customer["accountStatus"] == "ACTIVE"
    assert customer["kycStatus"] == "PENDING"
    assert customer["riskLevel"] == "MEDIUM"
    assert customer["version"] == 1
    assert ISO_UTC.match(customer["createdAt"])
    assert customer["addresses"] == []


async def test_a_created_customer_is_stored_as_answered(customer_service):
    customer = await create_customer(customer_service.client, creditLimit="750.25")

    rows = await fetch(
        customer_service,
        "SELECT email, credit_limit, available_credit, used_credit, account_status, kyc_status"
        " FROM customers WHERE customer_id = $1",
        customer["customerId"],
    )

    assert len(rows) == 1
    assert rows[0]["email"] == customer["email"]
    assert rows[0]["credit_limit"] == Decimal("750.25")
    assert rows[0]["available_credit"] == Decimal("750.25")
    assert rows[0]["used_credit"] == Decimal("0.00")
    assert (rows[0]["account_status"], rows[0]["kyc_status"]) == ("ACTIVE", "PENDING")


@pytest.mark.parametrize(
    ("score", "risk"),
    [
        (850, "LOW"),
        (740, "LOW"),
        (739, "MEDIUM"),
        (670, "MEDIUM"),
        (669, "HIGH"),
        (300, "HIGH"),
        (None, "HIGH"),
    ],
)
async def test_risk_level_follows_the_credit_score(customer_service, score, risk):
    body = customer_body(creditScore=score)
    if score is None:
        del body["creditScore"]

    response = await customer_service.client.post(CUSTOMERS, json=body)

    assert response.status_code == 201, response.text
    assert data(response)["riskLevel"] == risk


async def test_creating_a_customer_writes_a_credit_limit_set_history_row(customer_service):
    customer = await create_customer(customer_service.client, creditLimit="4321.09")

    history = await history_rows(customer_service, customer["customerId"])

    assert len(history) == 1
    row = history[0]
    assert row["transaction_type"] == "CREDIT_LIMIT_SET"
    assert row["amount"] == Decimal("4321.09")
    assert row["previous_available_credit"] == Decimal("0.00")
    assert row["new_available_credit"] == Decimal("4321.09")
    assert row["reference_id"] == customer["customerId"]


async def test_the_address_given_at_creation_becomes_the_primary_one(customer_service):
    address = {
        "street": "1 Main St",
        "city": "Springfield",
        "state": "IL",
        "zipCode": "62701",
        "country": "USA",
    }

    response = await customer_service.client.post(
        CUSTOMERS, json=customer_body(address={**address, "isPrimary": False})
    )

    assert response.status_code == 201, response.text
    addresses = data(response)["addresses"]
    assert len(addresses) == 1
    assert addresses[0]["isPrimary"] is True
    assert addresses[0]["street"] == "1 Main St"
    assert addresses[0]["country"] == "USA"
    rows = await fetch(
        customer_service,
        "SELECT is_primary FROM customer_addresses WHERE customer_id = $1",
        data(response)["customerId"],
    )
    assert [r["is_primary"] for r in rows] == [True]


async def test_a_customer_id_may_be_given_by_the_client(customer_service):
    response = await customer_service.client.post(
        CUSTOMERS, json=customer_body(customerId="CUST-MY-OWN-1")
    )

    assert response.status_code == 201, response.text
    assert data(response)["customerId"] == "CUST-MY-OWN-1"
    again = await customer_service.client.post(
        CUSTOMERS, json=customer_body(customerId="CUST-MY-OWN-1")
    )
    assert again.status_code == 409
    assert error_code(again) == "CONFLICT"


async def test_a_customer_without_credit_limit_starts_with_zero_credit(customer_service):
    body = customer_body()
    del body["creditLimit"]

    response = await customer_service.client.post(CUSTOMERS, json=body)

    assert response.status_code == 201, response.text
    assert '"creditLimit":0.00' in response.text
    assert '"availableCredit":0.00' in response.text


async def test_a_duplicate_email_is_refused_with_409(customer_service):
    email = unique_email()
    await create_customer(customer_service.client, email=email)

    response = await customer_service.client.post(CUSTOMERS, json=customer_body(email=email))

    assert response.status_code == 409
    assert error_code(response) == "DUPLICATE_EMAIL"
    assert error_fields(response) == ["email"]


async def test_a_duplicate_email_in_another_case_is_refused_too(customer_service):
    await create_customer(customer_service.client, email="Mixed.Case@Example.com")

    response = await customer_service.client.post(
        CUSTOMERS, json=customer_body(email="mixed.case@EXAMPLE.COM")
    )

    assert response.status_code == 409
    assert error_code(response) == "DUPLICATE_EMAIL"
    count = await fetch(
        customer_service,
        "SELECT customer_id FROM customers WHERE lower(email) = 'mixed.case@example.com'",
    )
    assert len(count) == 1


async def test_a_look_alike_email_is_the_same_customer_or_refused(customer_service):
    client = customer_service.client
    await create_customer(client, email="uni1@example.com")

    fullwidth = await client.post(CUSTOMERS, json=customer_body(email="\uff55ni1@example.com"))
    assert fullwidth.status_code == 409, fullwidth.text
    assert error_code(fullwidth) == "DUPLICATE_EMAIL"

    # A Cyrillic р or а among Latin letters of a domain label (in Unicode or in its xn-- form),
    # a Cyrillic е among the Latin letters of the local part: each made to pass for another.
    homographs = (
        "uni1@exam\u0440le.com",
        "uni1@ex\u0430mple.com",
        "uni1@xn--exmple-4nf.com",
        "\u0435uni1@example.com",
    )
    for homograph in homographs:
        refused = await client.post(CUSTOMERS, json=customer_body(email=homograph))
        assert refused.status_code == 400, (homograph, refused.text)
        assert error_code(refused) == "VALIDATION_ERROR"
        assert error_fields(refused) == ["email"]

    # A domain all in one script is a real one: kept in its IDNA ASCII form, so the same address
    # spelt in xn-- is the same customer.
    cyrillic = await create_customer(
        client, email="uni1@\u043f\u0440\u0438\u043c\u0435\u0440.\u0440\u0444"
    )
    assert cyrillic["email"] == "uni1@xn--e1afmkfd.xn--p1ai"
    again = await client.post(CUSTOMERS, json=customer_body(email="UNI1@xn--e1afmkfd.xn--p1ai"))
    assert again.status_code == 409, again.text
    emails = await fetch(customer_service, "SELECT email FROM customers ORDER BY email")
    assert [r["email"] for r in emails] == ["uni1@example.com", "uni1@xn--e1afmkfd.xn--p1ai"]


async def test_an_update_to_a_look_alike_email_is_a_duplicate_too(customer_service):
    client = customer_service.client
    await create_customer(client, email="uni2@example.com")
    other = await create_customer(client)

    response = await client.put(
        f"{CUSTOMERS}/{other['customerId']}",
        json={"email": "\uff35NI2@example.com", "version": other["version"]},
    )

    assert response.status_code == 409, response.text
    assert error_code(response) == "DUPLICATE_EMAIL"


async def test_a_duplicate_identification_number_is_refused_with_409(customer_service):
    await create_customer(
        customer_service.client, identificationNumber="ID-778899", identificationType="PASSPORT"
    )

    response = await customer_service.client.post(
        CUSTOMERS,
        json=customer_body(identificationNumber="ID-778899", identificationType="NATIONAL_ID"),
    )

    assert response.status_code == 409
    assert error_code(response) == "DUPLICATE_IDENTIFICATION"
    assert error_fields(response) == ["identificationNumber"]


# --- money on the wire ----------------------------------------------------------------------


async def test_money_comes_back_with_exactly_two_decimals(customer_service):
    response = await post_raw(
        customer_service.client,
        CUSTOMERS,
        f'{{"firstName":"A","lastName":"B","email":"{unique_email()}",'
        '"creditLimit":10,"annualIncome":55000.5}',
    )

    assert response.status_code == 201, response.text
    assert '"creditLimit":10.00,' in response.text
    assert '"availableCredit":10.00,' in response.text
    assert '"usedCredit":0.00,' in response.text
    assert '"annualIncome":55000.50,' in response.text


@pytest.mark.parametrize("amount", ["9999999999999.99", "1234567890123.45", "0.01", "0.10"])
async def test_large_and_small_amounts_come_back_digit_for_digit(customer_service, amount):
    response = await post_raw(
        customer_service.client,
        CUSTOMERS,
        f'{{"firstName":"A","lastName":"B","email":"{unique_email()}","creditLimit":{amount}}}',
    )

    assert response.status_code == 201, response.text
    assert f'"creditLimit":{amount},' in response.text
    assert f'"availableCredit":{amount},' in response.text
    stored = await fetch(
        customer_service,
        "SELECT credit_limit::text AS limit FROM customers WHERE customer_id = $1",
        data(response)["customerId"],
    )
    assert stored[0]["limit"] == amount


async def test_amounts_sent_as_numeric_strings_are_accepted(customer_service):
    response = await customer_service.client.post(
        CUSTOMERS, json=customer_body(creditLimit="1500.75", annualIncome="80000")
    )

    assert response.status_code == 201, response.text
    assert '"creditLimit":1500.75,' in response.text
    assert '"annualIncome":80000.00,' in response.text


async def test_an_amount_with_three_decimals_is_refused(customer_service):
    response = await post_raw(
        customer_service.client,
        CUSTOMERS,
        f'{{"firstName":"A","lastName":"B","email":"{unique_email()}","creditLimit":10.005}}',
    )

    assert response.status_code == 400
    assert error_code(response) == "VALIDATION_ERROR"
    assert error_fields(response) == ["creditLimit"]


async def test_an_amount_with_three_decimals_as_a_string_is_refused(customer_service):
    response = await customer_service.client.post(
        CUSTOMERS, json=customer_body(creditLimit="10.005")
    )

    assert response.status_code == 400
    assert error_fields(response) == ["creditLimit"]


@pytest.mark.parametrize("amount", ["10000000000000.00", "12345678901234.56", "1e20"])
async def test_an_amount_beyond_numeric_15_2_is_refused(customer_service, amount):
    # NUMERIC(15,2) holds 13 digits before the point: 9999999999999.99 is the largest amount.
    response = await post_raw(
        customer_service.client,
        CUSTOMERS,
        f'{{"firstName":"A","lastName":"B","email":"{unique_email()}","creditLimit":{amount}}}',
    )

    assert response.status_code == 400, response.text
    assert error_code(response) == "VALIDATION_ERROR"
    assert error_fields(response) == ["creditLimit"]


async def test_a_negative_credit_limit_is_refused(customer_service):
    response = await customer_service.client.post(
        CUSTOMERS, json=customer_body(creditLimit="-0.01", annualIncome="-1")
    )

    assert response.status_code == 400
    assert sorted(error_fields(response)) == ["annualIncome", "creditLimit"]


# --- get ------------------------------------------------------------------------------------


async def test_a_customer_is_read_back_with_its_addresses(customer_service):
    created = await create_customer(
        customer_service.client,
        address={
            "street": "5 Elm St",
            "city": "Boston",
            "state": "MA",
            "zipCode": "02101",
            "country": "USA",
        },
    )

    response = await customer_service.client.get(f"{CUSTOMERS}/{created['customerId']}")

    assert response.status_code == 200
    customer = data(response)
    assert customer["customerId"] == created["customerId"]
    assert customer["email"] == created["email"]
    assert customer["availableCredit"] == Decimal("10000.00")
    assert [a["street"] for a in customer["addresses"]] == ["5 Elm St"]


async def test_an_unknown_customer_is_not_found(customer_service):
    response = await customer_service.client.get(f"{CUSTOMERS}/CUST-DOES-NOT-EXIST")

    assert response.status_code == 404
    body = parse(response)
    assert body["status"] == "ERROR"
    assert body["error"]["code"] == "NOT_FOUND"
    assert body["data"] is None
    assert body["metadata"]["requestId"]


# --- list and search ------------------------------------------------------------------------


async def test_customers_are_listed_newest_first_with_pagination_fields(customer_service):
    client = customer_service.client
    ids = [(await create_customer(client, firstName=f"P{i}"))["customerId"] for i in range(5)]

    first = data(await client.get(CUSTOMERS, params={"size": 2}))
    last = data(await client.get(CUSTOMERS, params={"size": 2, "page": 2}))
    everything = data(await client.get(CUSTOMERS))

    assert (first["page"], first["size"], first["totalElements"], first["totalPages"]) == (
        0,
        2,
        5,
        3,
    )
    assert [c["customerId"] for c in first["content"]] == ids[::-1][:2]
    assert (last["page"], last["totalElements"], last["totalPages"]) == (2, 5, 3)
    assert [c["customerId"] for c in last["content"]] == [ids[0]]
    assert everything["size"] == 20
    assert [c["customerId"] for c in everything["content"]] == ids[::-1]


async def test_a_page_past_the_end_is_empty(customer_service):
    await create_customer(customer_service.client)

    page = data(await customer_service.client.get(CUSTOMERS, params={"page": 5, "size": 10}))

    assert page["content"] == []
    assert page["totalElements"] == 1
    assert page["totalPages"] == 1


async def test_an_empty_list_has_zero_pages(customer_service):
    page = data(await customer_service.client.get(CUSTOMERS))

    assert page == {"content": [], "page": 0, "size": 20, "totalElements": 0, "totalPages": 0}


async def test_customers_are_filtered_by_account_status(customer_service):
    client = customer_service.client
    active = await create_customer(client)
    suspended = await create_customer(client)
    response = await client.put(
        f"{CUSTOMERS}/{suspended['customerId']}", json={"version": 1, "accountStatus": "SUSPENDED"}
    )
    assert response.status_code == 200, response.text

    only_suspended = data(await client.get(CUSTOMERS, params={"status": "SUSPENDED"}))
    only_active = data(await client.get(CUSTOMERS, params={"status": "ACTIVE"}))

    assert [c["customerId"] for c in only_suspended["content"]] == [suspended["customerId"]]
    assert only_suspended["totalElements"] == 1
    assert [c["customerId"] for c in only_active["content"]] == [active["customerId"]]


async def test_an_unknown_status_filter_is_refused(customer_service):
    response = await customer_service.client.get(CUSTOMERS, params={"status": "DORMANT"})

    assert response.status_code == 400
    assert error_code(response) == "VALIDATION_ERROR"
    assert error_fields(response) == ["status"]


async def test_customers_are_searched_by_name_case_insensitively(customer_service):
    client = customer_service.client
    ada = await create_customer(client, firstName="Ada", lastName="Lovelace")
    await create_customer(client, firstName="Alan", lastName="Turing")

    by_last = data(await client.get(CUSTOMERS, params={"q": "lovel"}))
    by_full = data(await client.get(CUSTOMERS, params={"q": "ada lovelace"}))

    assert [c["customerId"] for c in by_last["content"]] == [ada["customerId"]]
    assert [c["customerId"] for c in by_full["content"]] == [ada["customerId"]]


async def test_customers_are_searched_by_email(customer_service):
    client = customer_service.client
    target = await create_customer(client, email="searchable.person@bank.example")
    await create_customer(client)

    found = data(await client.get(CUSTOMERS, params={"q": "SEARCHABLE.person@"}))

    assert [c["customerId"] for c in found["content"]] == [target["customerId"]]
    assert found["totalElements"] == 1


async def test_search_wildcards_are_taken_literally(customer_service):
    client = customer_service.client
    percent = await create_customer(client, firstName="100%", lastName="Sure")
    await create_customer(client, firstName="Plain", lastName="Name")

    found = data(await client.get(CUSTOMERS, params={"q": "%"}))
    underscore = data(await client.get(CUSTOMERS, params={"q": "_"}))

    assert [c["customerId"] for c in found["content"]] == [percent["customerId"]]
    assert underscore["content"] == []


async def test_status_filter_and_search_combine(customer_service):
    client = customer_service.client
    await create_customer(client, firstName="Zed", lastName="Active")
    suspended = await create_customer(client, firstName="Zed", lastName="Suspended")
    await client.put(
        f"{CUSTOMERS}/{suspended['customerId']}", json={"version": 1, "accountStatus": "SUSPENDED"}
    )

    found = data(await client.get(CUSTOMERS, params={"q": "zed", "status": "SUSPENDED"}))

    assert [c["customerId"] for c in found["content"]] == [suspended["customerId"]]


@pytest.mark.parametrize(
    ("params", "field"),
    [({"size": 101}, "size"), ({"size": 0}, "size"), ({"page": -1}, "page")],
)
async def test_out_of_range_paging_is_refused(customer_service, params, field):
    response = await customer_service.client.get(CUSTOMERS, params=params)

    assert response.status_code == 400
    assert error_code(response) == "VALIDATION_ERROR"
    assert error_fields(response) == [field]


async def test_a_size_of_100_is_allowed(customer_service):
    response = await customer_service.client.get(CUSTOMERS, params={"size": 100})

    assert response.status_code == 200
    assert data(response)["size"] == 100
