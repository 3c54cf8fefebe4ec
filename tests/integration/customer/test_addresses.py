"""Addresses of a customer: a customer with addresses has exactly one primary (api.md §2)."""

from __future__ import annotations

from tests.integration.customer.helpers import (
    CUSTOMERS,
    create_customer,
    data,
    error_code,
    error_fields,
    fetch,
    get_customer,
)


def _address(street: str, **fields):
    return {
        "street": street,
        "city": "Springfield",
        "state": "IL",
        "zipCode": "62701",
        "country": "USA",
        **fields,
    }


async def _add(client, cid, street, **fields):
    response = await client.post(f"{CUSTOMERS}/{cid}/addresses", json=_address(street, **fields))
    assert response.status_code == 201, response.text
    return data(response)


async def _primaries(service, cid) -> list[int]:
    rows = await fetch(
        service,
        "SELECT address_id FROM customer_addresses WHERE customer_id = $1 AND is_primary",
        cid,
    )
    return [r["address_id"] for r in rows]


async def _address_count(service, cid) -> int:
    rows = await fetch(
        service, "SELECT address_id FROM customer_addresses WHERE customer_id = $1", cid
    )
    return len(rows)


async def test_the_first_address_becomes_primary(customer_service):
    client = customer_service.client
    cid = (await create_customer(client))["customerId"]

    response = await client.post(
        f"{CUSTOMERS}/{cid}/addresses", json=_address("1 First St", isPrimary=False)
    )

    assert response.status_code == 201, response.text
    body = data(response)
    assert body["isPrimary"] is True
    assert body["street"] == "1 First St"
    assert body["country"] == "USA"
    assert body["addressType"] == "PRIMARY"
    assert isinstance(body["addressId"], int)
    assert await _primaries(customer_service, cid) == [body["addressId"]]


async def test_a_second_address_is_not_primary_unless_asked(customer_service):
    client = customer_service.client
    cid = (await create_customer(client))["customerId"]
    first = await _add(client, cid, "1 First St")

    second = await _add(client, cid, "2 Second St", addressType="MAILING")

    assert second["isPrimary"] is False
    assert second["addressType"] == "MAILING"
    assert await _primaries(customer_service, cid) == [first["addressId"]]


async def test_a_new_primary_address_takes_the_primary_over(customer_service):
    client = customer_service.client
    cid = (await create_customer(client))["customerId"]
    first = await _add(client, cid, "1 First St")
    await _add(client, cid, "2 Second St")

    third = await _add(client, cid, "3 Third St", isPrimary=True)

    assert third["isPrimary"] is True
    assert await _primaries(customer_service, cid) == [third["addressId"]]
    listed = data(await client.get(f"{CUSTOMERS}/{cid}/addresses"))
    flags = {a["addressId"]: a["isPrimary"] for a in listed}
    assert flags[first["addressId"]] is False
    assert flags[third["addressId"]] is True


async def test_addresses_are_listed_primary_first(customer_service):
    client = customer_service.client
    cid = (await create_customer(client))["customerId"]
    first = await _add(client, cid, "1 First St")
    second = await _add(client, cid, "2 Second St", isPrimary=True)

    response = await client.get(f"{CUSTOMERS}/{cid}/addresses")

    assert response.status_code == 200
    listed = data(response)
    assert [a["addressId"] for a in listed] == [second["addressId"], first["addressId"]]
    assert [a["isPrimary"] for a in listed] == [True, False]
    customer = await get_customer(client, cid)
    assert [a["addressId"] for a in customer["addresses"]] == [
        second["addressId"],
        first["addressId"],
    ]


async def test_a_customer_without_addresses_lists_none(customer_service):
    cid = (await create_customer(customer_service.client))["customerId"]

    response = await customer_service.client.get(f"{CUSTOMERS}/{cid}/addresses")

    assert response.status_code == 200
    assert data(response) == []


async def test_an_address_update_changes_only_the_fields_given(customer_service):
    client = customer_service.client
    cid = (await create_customer(client))["customerId"]
    address = await _add(client, cid, "1 First St")

    response = await client.put(
        f"{CUSTOMERS}/{cid}/addresses/{address['addressId']}",
        json={"city": "Shelbyville", "zipCode": "62565"},
    )

    assert response.status_code == 200, response.text
    updated = data(response)
    assert updated["city"] == "Shelbyville"
    assert updated["zipCode"] == "62565"
    assert updated["street"] == "1 First St"
    assert updated["isPrimary"] is True
    rows = await fetch(
        customer_service,
        "SELECT city, street FROM customer_addresses WHERE address_id = $1",
        address["addressId"],
    )
    assert (rows[0]["city"], rows[0]["street"]) == ("Shelbyville", "1 First St")


async def test_making_an_address_primary_by_update_moves_the_primary(customer_service):
    client = customer_service.client
    cid = (await create_customer(client))["customerId"]
    await _add(client, cid, "1 First St")
    second = await _add(client, cid, "2 Second St")

    response = await client.put(
        f"{CUSTOMERS}/{cid}/addresses/{second['addressId']}", json={"isPrimary": True}
    )

    assert response.status_code == 200, response.text
    assert data(response)["isPrimary"] is True
    assert await _primaries(customer_service, cid) == [second["addressId"]]


async def test_the_primary_address_cannot_be_unmarked(customer_service):
    client = customer_service.client
    cid = (await create_customer(client))["customerId"]
    first = await _add(client, cid, "1 First St")
    await _add(client, cid, "2 Second St")

    response = await client.put(
        f"{CUSTOMERS}/{cid}/addresses/{first['addressId']}", json={"isPrimary": False}
    )

    assert response.status_code == 422
    assert error_code(response) == "PRIMARY_ADDRESS_REQUIRED"
    assert await _primaries(customer_service, cid) == [first["addressId"]]


async def test_deleting_the_primary_address_promotes_another(customer_service):
    client = customer_service.client
    cid = (await create_customer(client))["customerId"]
    first = await _add(client, cid, "1 First St")
    second = await _add(client, cid, "2 Second St")
    third = await _add(client, cid, "3 Third St")

    response = await client.delete(f"{CUSTOMERS}/{cid}/addresses/{first['addressId']}")

    assert response.status_code == 200, response.text
    assert await _address_count(customer_service, cid) == 2
    primaries = await _primaries(customer_service, cid)
    assert len(primaries) == 1
    assert primaries[0] in {second["addressId"], third["addressId"]}
    listed = data(await client.get(f"{CUSTOMERS}/{cid}/addresses"))
    assert first["addressId"] not in [a["addressId"] for a in listed]
    assert [a["isPrimary"] for a in listed].count(True) == 1


async def test_deleting_another_address_keeps_the_primary(customer_service):
    client = customer_service.client
    cid = (await create_customer(client))["customerId"]
    first = await _add(client, cid, "1 First St")
    second = await _add(client, cid, "2 Second St")

    response = await client.delete(f"{CUSTOMERS}/{cid}/addresses/{second['addressId']}")

    assert response.status_code == 200
    assert await _primaries(customer_service, cid) == [first["addressId"]]
    assert await _address_count(customer_service, cid) == 1


async def test_deleting_the_only_address_leaves_none(customer_service):
    client = customer_service.client
    cid = (await create_customer(client))["customerId"]
    only = await _add(client, cid, "1 First St")

    response = await client.delete(f"{CUSTOMERS}/{cid}/addresses/{only['addressId']}")

    assert response.status_code == 200
    assert await _address_count(customer_service, cid) == 0
    assert data(await client.get(f"{CUSTOMERS}/{cid}/addresses")) == []
    again = await _add(client, cid, "9 Fresh St")
    assert again["isPrimary"] is True


async def test_exactly_one_primary_survives_a_sequence_of_changes(customer_service):
    client = customer_service.client
    cid = (await create_customer(client))["customerId"]
    ids = [
        (await _add(client, cid, f"{n} Street", isPrimary=n % 2 == 0))["addressId"]
        for n in range(6)
    ]
    for address_id in ids[1::2]:
        await client.put(f"{CUSTOMERS}/{cid}/addresses/{address_id}", json={"isPrimary": True})
        assert await _primaries(customer_service, cid) == [address_id]
    for address_id in ids[:4]:
        await client.delete(f"{CUSTOMERS}/{cid}/addresses/{address_id}")
        assert len(await _primaries(customer_service, cid)) == 1

    assert await _address_count(customer_service, cid) == 2


async def test_an_unknown_address_is_not_found(customer_service):
    client = customer_service.client
    cid = (await create_customer(client))["customerId"]
    await _add(client, cid, "1 First St")

    updated = await client.put(f"{CUSTOMERS}/{cid}/addresses/999999", json={"city": "X"})
    deleted = await client.delete(f"{CUSTOMERS}/{cid}/addresses/999999")

    assert updated.status_code == 404
    assert error_code(updated) == "NOT_FOUND"
    assert deleted.status_code == 404
    assert error_code(deleted) == "NOT_FOUND"


async def test_another_customers_address_is_not_found(customer_service):
    client = customer_service.client
    owner = (await create_customer(client))["customerId"]
    other = (await create_customer(client))["customerId"]
    address = await _add(client, owner, "1 Owner St")

    updated = await client.put(
        f"{CUSTOMERS}/{other}/addresses/{address['addressId']}", json={"city": "Stolen"}
    )
    deleted = await client.delete(f"{CUSTOMERS}/{other}/addresses/{address['addressId']}")

    assert updated.status_code == 404
    assert deleted.status_code == 404
    assert await _address_count(customer_service, owner) == 1
    rows = await fetch(
        customer_service,
        "SELECT city FROM customer_addresses WHERE address_id = $1",
        address["addressId"],
    )
    assert rows[0]["city"] == "Springfield"


async def test_addresses_of_an_unknown_customer_are_not_found(customer_service):
    client = customer_service.client

    added = await client.post(f"{CUSTOMERS}/CUST-NOPE/addresses", json=_address("1 Nowhere"))
    listed = await client.get(f"{CUSTOMERS}/CUST-NOPE/addresses")

    assert added.status_code == 404
    assert error_code(added) == "NOT_FOUND"
    assert listed.status_code == 404
    assert error_code(listed) == "NOT_FOUND"


async def test_an_address_missing_its_fields_is_refused_with_each_field(customer_service):
    cid = (await create_customer(customer_service.client))["customerId"]

    response = await customer_service.client.post(
        f"{CUSTOMERS}/{cid}/addresses", json={"street": "", "state": "IL"}
    )

    assert response.status_code == 400
    assert error_code(response) == "VALIDATION_ERROR"
    assert sorted(error_fields(response)) == ["city", "country", "street", "zipCode"]
    assert await _address_count(customer_service, cid) == 0


async def test_an_address_id_that_is_not_a_number_is_refused(customer_service):
    cid = (await create_customer(customer_service.client))["customerId"]

    response = await customer_service.client.put(
        f"{CUSTOMERS}/{cid}/addresses/abc", json={"city": "X"}
    )

    assert response.status_code == 400
    assert error_code(response) == "VALIDATION_ERROR"
