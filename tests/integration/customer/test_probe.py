async def test_probe(customer_service):
    c = customer_service.client
    for method, url, kw in [
        ("GET", "/api/v1/customers?page=99999999999999999999", {}),
        ("GET", "/api/v1/customers?page=999999999999999999", {}),
        ("GET", "/api/v1/customers?q=%00", {}),
        ("GET", "/api/v1/customers/%00", {}),
        (
            "POST",
            "/api/v1/customers",
            {"content": '{"firstName":"A\\u0000","lastName":"B","email":"a@example.com"}'},
        ),
        (
            "POST",
            "/api/v1/customers",
            {
                "content": '{"firstName":"A","lastName":"B","email":"a@example.com","creditLimit":12345678901234.56}'
            },
        ),
        (
            "POST",
            "/api/v1/customers",
            {
                "content": '{"firstName":"A","lastName":"B","email":"a@example.com","creditLimit":NaN}'
            },
        ),
        ("POST", "/api/v1/customers", {"content": '{"firstName":"A",'}),
        ("POST", "/api/v1/customers", {"content": "[1]"}),
        (
            "POST",
            "/api/v1/customers",
            {
                "content": '{"firstName":"A","lastName":"B","email":"a@example.com"}',
                "headers": {"content-type": "text/plain"},
            },
        ),
        (
            "POST",
            "/api/v1/customers",
            {"content": b"\xff\xfe", "headers": {"content-type": "application/json"}},
        ),
        (
            "POST",
            "/api/v1/customers",
            {
                "content": '{"firstName":"A","lastName":"B","email":"a@example.com","creditLimit":1e400}'
            },
        ),
        (
            "POST",
            "/api/v1/customers",
            {
                "content": '{"firstName":"A","lastName":"B","email":"b@example.com","creditLimit":"1e2", "dateOfBirth":"0001-01-01"}'
            },
        ),
        ("GET", "/api/v1/customers/x/credit/history?fromDate=2020-13-01", {}),
        ("GET", "/api/v1/customers/x/credit/history?toDate=9999-12-31", {}),
        (
            "PUT",
            "/api/v1/customers/x",
            {
                "json": {"version": 1},
            },
        ),
        ("PUT", "/api/v1/customers/x", {"json": {}, "headers": {"If-Match": "abc"}}),
        (
            "POST",
            "/api/v1/customers/x/credit/reserve",
            {"json": {"amount": "1", "purpose": "p"}, "headers": {"Idempotency-Key": "a\x01"}},
        ),
    ]:
        try:
            r = await c.request(method, url, **kw)
            print(method, url, kw, r.status_code, r.text[:300])
        except Exception as e:
            print(method, url, "EXC", e)
