"""Tokens of an identity provider, checked against its JWKS (`ELMS_JWT_JWKS_URL`): a token naming
no key of the set is a 401, never a 500; a key set that cannot be had is a 503."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from elms.core.clock import utcnow
from tests.conftest import running_gateway

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


@contextmanager
def serving_jwks(body: bytes) -> Iterator[str]:
    """A JWKS endpoint on a loopback port, in a thread (PyJWT fetches it synchronously)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/jwks.json"
    finally:
        server.shutdown()
        server.server_close()


def _jwks() -> bytes:
    jwk = jwt.algorithms.RSAAlgorithm.to_jwk(KEY.public_key(), as_dict=True)
    return json.dumps({"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]}).encode()


def _token(settings, kid: str | None) -> str:
    claims = {
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "sub": "idp-officer",
        "role": "LOAN_OFFICER",
        "scope": "customer:read",
        "exp": int((utcnow() + timedelta(hours=1)).timestamp()),
    }
    headers = {"kid": kid} if kid else {}
    return jwt.encode(claims, KEY, algorithm="RS256", headers=headers)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def _get(gateway, token: str):
    return await gateway.client.get(
        "/api/v1/customers?size=1", headers={"Authorization": f"Bearer {token}"}
    )


async def test_a_token_naming_no_key_of_the_set_is_401_not_500(system, database):
    with serving_jwks(_jwks()) as url:
        settings = system.settings.model_copy(
            update={"payment_url": system.payment.url, "jwt_jwks_url": url}
        )
        async with running_gateway(settings, database.dsn("gateway")) as gateway:
            known = await _get(gateway, _token(settings, "k1"))
            assert known.status_code == 200, known.text

            for token in (
                _token(settings, "unknown-kid"),
                _token(settings, None),
                "not-a-jwt",
                "a.b.c",
                "eyJhbGciOiJSUzI1NiIsImtpZCI6WzFdfQ.e30.x",  # {"kid": [1]}: not a string
            ):
                refused = await _get(gateway, token)
                assert refused.status_code == 401, (token, refused.text)
                assert refused.json()["error"]["code"] == "UNAUTHORIZED"
                assert refused.json()["error"]["message"] == "The token is not valid"


async def test_a_key_set_that_cannot_be_had_is_503(system, database):
    unreachable = f"http://127.0.0.1:{_closed_port()}/jwks.json"
    with serving_jwks(b"<html>bad gateway</html>") as not_json, serving_jwks(b"[]") as not_set:
        for url in (unreachable, not_json, not_set):
            settings = system.settings.model_copy(
                update={"payment_url": system.payment.url, "jwt_jwks_url": url}
            )
            async with running_gateway(settings, database.dsn("gateway")) as gateway:
                response = await _get(gateway, _token(settings, "k1"))
                assert response.status_code == 503, (url, response.text)
                assert response.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
