"""A token's scopes are what it lists, never more than its role may have (api.md §6)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from elms.core.errors import DomainError
from elms.gateway.tokens import ALL_SCOPES, ROLE_SCOPES, Role, verify

ISSUER, AUDIENCE = "loan-management-system", "api-gateway"


@pytest.fixture(scope="module")
def keys() -> tuple[bytes, object]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return pem, private.public_key()


def _token(pem: bytes, role: str, scope: object) -> str:
    now = datetime.now(UTC)
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "someone",
        "role": role,
        "scope": scope,
        "customerId": "CUST-1",
        "exp": int((now + timedelta(minutes=5)).timestamp()),
    }
    return jwt.encode(claims, pem, algorithm="RS256")


def _scopes(keys, role: str, scope: object) -> frozenset[str]:
    pem, public = keys
    principal = verify(
        _token(pem, role, scope), public, issuer=ISSUER, audience=AUDIENCE, algorithm="RS256"
    )
    return principal.scopes


@pytest.mark.parametrize("role", list(Role))
def test_a_token_listing_every_scope_gets_only_its_roles(keys, role):
    assert _scopes(keys, role.value, list(ALL_SCOPES)) == frozenset(ROLE_SCOPES[role])


def test_a_customer_token_claiming_an_officers_scope_does_not_get_it(keys):
    got = _scopes(keys, "CUSTOMER", "loan:read loan:approve saga:manage credit:manage")
    assert got == {"loan:read"}


def test_a_token_gets_no_scope_it_does_not_list(keys):
    assert _scopes(keys, "ADMIN", ["payment:read"]) == {"payment:read"}


def test_a_subject_too_long_to_record_is_refused(keys):
    pem, public = keys
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "x" * 256,
        "role": "LOAN_OFFICER",
        "exp": int((datetime.now(UTC) + timedelta(minutes=5)).timestamp()),
    }
    token = jwt.encode(claims, pem, algorithm="RS256")
    with pytest.raises(DomainError) as refused:
        verify(token, public, issuer=ISSUER, audience=AUDIENCE, algorithm="RS256")
    assert refused.value.status == 401


def test_a_refused_token_is_told_one_fixed_message_and_no_decoding_detail(keys):
    pem, public = keys
    now = datetime.now(UTC)
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "x", "role": "ADMIN"}
    tokens = {
        "not-a-jwt": "not-a-jwt",
        "garbage segments": "a.b.c",
        "expired": jwt.encode(
            {**claims, "exp": int((now - timedelta(minutes=5)).timestamp())}, pem, "RS256"
        ),
        "wrong audience": jwt.encode(
            {**claims, "aud": "other", "exp": int((now + timedelta(minutes=5)).timestamp())},
            pem,
            "RS256",
        ),
        "no role": jwt.encode(
            {**claims, "role": "KING", "exp": int((now + timedelta(minutes=5)).timestamp())},
            pem,
            "RS256",
        ),
        "no exp": jwt.encode(claims, pem, "RS256"),
    }
    for what, token in tokens.items():
        with pytest.raises(DomainError) as refused:
            verify(token, public, issuer=ISSUER, audience=AUDIENCE, algorithm="RS256")
        assert (refused.value.status, refused.value.code) == (401, "UNAUTHORIZED"), what
        assert refused.value.message == "The token is not valid", what


@pytest.mark.parametrize(
    "odd",
    [
        {"scope": 7},
        {"scope": [{"a": 1}]},
        {"customerId": 12345},
        {"customerId": "CUST-1\r\nX-ELMS-Role: ADMIN"},
        {"sub": "alice\r\nx-elms-role: ADMIN"},
        {"sid": ["s"]},
    ],
)
def test_a_signed_token_with_claims_of_the_wrong_form_is_401_not_a_crash(keys, odd):
    # Such claims travel to the services in headers: a CR-LF would forge one, a list breaks one.
    pem, public = keys
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "someone",
        "role": "CUSTOMER",
        "customerId": "CUST-1",
        "exp": int((datetime.now(UTC) + timedelta(minutes=5)).timestamp()),
        **odd,
    }
    token = jwt.encode(claims, pem, algorithm="RS256")
    with pytest.raises(DomainError) as refused:
        verify(token, public, issuer=ISSUER, audience=AUDIENCE, algorithm="RS256")
    assert refused.value.status == 401
