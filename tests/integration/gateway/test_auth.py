"""Authentication and authorisation at the gateway (api.md §6)."""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import timedelta

import jwt

from elms.core.clock import utcnow
from elms.gateway.auth import issue_token
from elms.gateway.keys import local_private_key
from elms.gateway.tokens import Role, mint
from tests.conftest import bearer
from tests.integration.loan.conftest import body, loan_request, new_customer


def _token(settings, **overrides) -> str:
    claims = dict(
        subject="someone",
        role=Role.LOAN_OFFICER,
        customer_id=None,
        session_id=None,
        issued_at=utcnow(),
        ttl=timedelta(hours=1),
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
    )
    claims.update(overrides)
    return "Bearer " + mint(local_private_key(settings.data_dir), **claims)


async def _get(gateway, path, authorization):
    return await gateway.client.get(path, headers={"Authorization": authorization})


async def test_a_request_without_a_valid_token_is_401(gateway, system):
    settings = system.settings
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    forged = "Bearer " + jwt.encode(
        {
            "iss": settings.jwt_issuer,
            "aud": settings.jwt_audience,
            "sub": "x",
            "role": "ADMIN",
            "exp": int((utcnow() + timedelta(hours=1)).timestamp()),
        },
        stranger,
        algorithm="RS256",
    )
    for authorization in (
        "",
        "Bearer not-a-jwt",
        forged,
        _token(settings, ttl=timedelta(seconds=-10)),
        _token(settings, audience="someone-else"),
        _token(settings, issuer="another-issuer"),
        _token(settings, role=Role.CUSTOMER),  # a customer's token must name the customer
    ):
        response = await _get(gateway, "/api/v1/customers?size=1", authorization)
        assert response.status_code == 401, authorization
        assert response.json()["error"]["code"] == "UNAUTHORIZED"


async def test_a_session_token_works_until_logout_then_is_401_at_once(gateway, system):
    token = await issue_token(
        gateway.app.state.db,
        system.settings,
        subject="alice",
        role=Role.LOAN_OFFICER,
        customer_id=None,
        ttl=timedelta(minutes=5),
    )
    authorization = f"Bearer {token}"
    assert (await _get(gateway, "/api/v1/customers?size=1", authorization)).status_code == 200
    out = await gateway.client.post("/api/v1/auth/logout", headers={"Authorization": authorization})
    assert out.status_code == 200 and out.json()["data"]["sessionEnded"] is True
    after = await _get(gateway, "/api/v1/customers?size=1", authorization)
    assert after.status_code == 401


async def test_a_customer_reaches_only_their_own_customer_loans_and_payments(gateway, system):
    mine = await new_customer(system.customer.client, tag="mine")
    theirs = await new_customer(system.customer.client, tag="theirs")
    my_loan = body(
        await system.loan.client.post("/api/v1/loans", json=loan_request(mine["customerId"]))
    )["data"]
    their_loan = body(
        await system.loan.client.post("/api/v1/loans", json=loan_request(theirs["customerId"]))
    )["data"]
    me = bearer(system.settings, "CUSTOMER", mine["customerId"])

    async def status(method, path, json=None):
        response = await gateway.client.request(
            method, path, json=json, headers={"Authorization": me}
        )
        return response.status_code

    assert await status("GET", f"/api/v1/customers/{mine['customerId']}") == 200
    assert await status("GET", f"/api/v1/customers/{theirs['customerId']}") == 404
    assert await status("GET", "/api/v1/customers") == 403
    assert await status("GET", f"/api/v1/loans/{my_loan['loanId']}") == 200
    assert await status("GET", f"/api/v1/loans/{their_loan['loanId']}") == 404
    assert await status("GET", f"/api/v1/loans/{their_loan['loanId']}/installments") == 404
    assert await status("GET", f"/api/v1/loans/customer/{theirs['customerId']}") == 404
    assert await status("GET", f"/api/v1/loans/customer/{mine['customerId']}") == 200
    assert await status("GET", "/api/v1/loans") == 403
    assert await status("GET", f"/api/v1/payments/customer/{theirs['customerId']}") == 404
    assert await status("GET", f"/api/v1/payments/loan/{their_loan['loanId']}") == 404
    assert (
        await status("POST", "/api/v1/payments/calculate", {"loanId": their_loan["loanId"]}) == 404
    )
    # Officers' moves are not a customer's, even on their own things.
    assert (
        await status(
            "POST",
            f"/api/v1/customers/{mine['customerId']}/credit/reserve",
            {"amount": "1.00", "purpose": "x"},
        )
        == 403
    )
    assert (
        await status(
            "PUT",
            f"/api/v1/customers/{mine['customerId']}",
            {"version": 2, "creditLimit": "999999.00"},
        )
        == 403
    )
    for field, value in (("annualIncome", "900000.00"), ("identificationNumber", "X1")):
        changed = {"version": 2, field: value}
        assert await status("PUT", f"/api/v1/customers/{mine['customerId']}", changed) == 403
    # What is theirs to keep up to date, they may.
    own = {"version": mine["version"], "phone": "+15550100"}
    assert await status("PUT", f"/api/v1/customers/{mine['customerId']}", own) == 200
    assert await status("POST", f"/api/v1/loans/{my_loan['loanId']}/approve", {}) == 403
    assert await status("POST", "/api/v1/loans", loan_request(theirs["customerId"])) == 403


async def test_a_field_under_its_python_name_is_refused_not_slipped_past_the_gateway(
    gateway, system
):
    """The gateway guards `creditLimit`, `kycStatus`, `loanId`, `paymentDate` by their wire
    names; the services read those names only, so `credit_limit` is no way around it."""
    mine = await new_customer(system.customer.client, tag="snake")
    theirs = await new_customer(system.customer.client, tag="snake-theirs")
    their_loan = body(
        await system.loan.client.post("/api/v1/loans", json=loan_request(theirs["customerId"]))
    )["data"]
    me = {"Authorization": bearer(system.settings, "CUSTOMER", mine["customerId"])}

    def fields(response) -> set[str]:
        return {d["field"] for d in body(response)["error"]["details"]}

    update = await gateway.client.put(
        f"/api/v1/customers/{mine['customerId']}",
        json={"version": mine["version"], "credit_limit": "999999.00", "kyc_status": "PENDING"},
        headers=me,
    )
    assert update.status_code == 400, update.text
    assert fields(update) == {"credit_limit", "kyc_status"}
    quote = await gateway.client.post(
        "/api/v1/payments/calculate", json={"loan_id": their_loan["loanId"]}, headers=me
    )
    assert quote.status_code == 400, quote.text
    assert "loan_id" in fields(quote)
    paid = await gateway.client.post(
        "/api/v1/payments",
        json={"loan_id": their_loan["loanId"], "paymentAmount": "10.00", "paymentMethod": "ACH"},
        headers=me,
    )
    assert paid.status_code == 400, paid.text
    assert "loan_id" in fields(paid)
    unchanged = body(await system.customer.client.get(f"/api/v1/customers/{mine['customerId']}"))
    assert (unchanged["data"]["creditLimit"], unchanged["data"]["kycStatus"]) == (
        mine["creditLimit"],
        mine["kycStatus"],
    )


async def test_an_officer_may_approve_and_read_everyone(gateway, system):
    customer = await new_customer(system.customer.client, tag="officer", kyc=False)
    loan = body(
        await system.loan.client.post("/api/v1/loans", json=loan_request(customer["customerId"]))
    )["data"]
    assert loan["status"] == "PENDING_APPROVAL"
    officer = bearer(system.settings, "LOAN_OFFICER")
    approved = await gateway.client.post(
        f"/api/v1/loans/{loan['loanId']}/approve",
        json={"notes": "fine", "officerId": "SOMEONE-ELSE"},
        headers={"Authorization": officer, "X-ELMS-User": "forged-by-the-client"},
    )
    assert approved.status_code == 200, approved.text
    # Who approved is the token's subject, whatever the body or the client's headers say.
    shown = await gateway.client.get(
        f"/api/v1/loans/{loan['loanId']}", headers={"Authorization": officer}
    )
    assert body(shown)["data"]["application"]["reviewerId"] == "test-loan_officer"
    uploaded = await gateway.client.post(
        f"/api/v1/loans/{loan['loanId']}/documents",
        data={"documentType": "ID_PROOF"},
        files={"file": ("id.pdf", b"%PDF-1.7\n" + b"0" * 64, "application/pdf")},
        headers={"Authorization": officer},
    )
    assert uploaded.status_code == 201, uploaded.text
    document = body(uploaded)["data"]
    assert document["uploadedBy"] == "test-loan_officer"
    verified = await gateway.client.post(
        f"/api/v1/loans/{loan['loanId']}/documents/{document['documentId']}/verify",
        json={"status": "VERIFIED", "verifiedBy": "SOMEONE-ELSE"},
        headers={"Authorization": officer},
    )
    assert verified.status_code == 200, verified.text
    assert body(verified)["data"]["verifiedBy"] == "test-loan_officer"
    listed = await gateway.client.get("/api/v1/loans", headers={"Authorization": officer})
    assert listed.status_code == 200


async def test_elms_token_mints_a_token_the_gateway_accepts(gateway, system, database):
    settings = system.settings
    env = {k: v for k, v in os.environ.items() if not k.startswith("ELMS_")}
    env.update(
        ELMS_DATA_DIR=str(settings.data_dir),
        ELMS_DATABASE_URL=database.admin_url,
        ELMS_DB_ROLE_SECRET=settings.db_role_secret or "",
        ELMS_LOG_LEVEL="WARNING",
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "elms",
        "token",
        "--sub",
        "bob",
        "--role",
        "ADMIN",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == 0, stderr.decode()
    token = stdout.decode().strip().splitlines()[-1]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert (claims["sub"], claims["role"]) == ("bob", "ADMIN")
    assert "saga:manage" in claims["scope"] and claims["sid"].startswith("SESS-")
    response = await _get(gateway, "/api/v1/customers?size=1", f"Bearer {token}")
    assert response.status_code == 200
    async with gateway.app.state.db.connection() as conn:
        assert (
            await conn.fetchval(
                "SELECT user_id FROM session_data WHERE session_id = $1", claims["sid"]
            )
            == "bob"
        )
