async def test_create_customer_then_reserve_and_release(customer_service):
    client = customer_service.client
    created = await client.post(
        "/api/v1/customers",
        json={
            "firstName": "Ada",
            "lastName": "Lovelace",
            "email": "ada@example.com",
            "creditLimit": "10000.00",
            "creditScore": 760,
        },
    )
    assert created.status_code == 201, created.text
    customer = created.json()["data"]
    print(created.text)
    reserved = await client.post(
        f"/api/v1/customers/{customer['customerId']}/credit/reserve",
        json={"amount": 2500.10, "purpose": "LOAN"},
    )
    assert reserved.status_code == 200, reserved.text
    print(reserved.text)
