"""The gateway's token keys: a local RSA key pair made on first start in the data directory,
or an external identity provider's public key or JWKS URL instead."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import jwt
import structlog
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from elms.core.config import Settings
from elms.core.datafiles import create_once
from elms.core.errors import DomainError
from elms.gateway.tokens import INVALID_TOKEN, unauthorized

log = structlog.get_logger("elms.gateway.keys")

PRIVATE_KEY_FILE = "gateway-jwt-private.pem"
# The key set is fetched synchronously (PyJWT), on the request's path: never wait long for it.
JWKS_TIMEOUT_SECONDS = 5.0


def _new_private_key() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def local_private_key(data_dir: Path) -> bytes:
    path = data_dir / PRIVATE_KEY_FILE
    return path.read_bytes() if path.exists() else create_once(path, _new_private_key())


def public_key_of(private_pem: bytes) -> bytes:
    key = serialization.load_pem_private_key(private_pem, password=None)
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _refused(reason: str) -> DomainError:
    log.info("token refused", reason=reason)
    return unauthorized(INVALID_TOKEN)


def _unavailable(url: str, error: Exception) -> DomainError:
    log.warning("the JWKS cannot be had", url=url, error=f"{type(error).__name__}: {error}")
    return DomainError(
        "Tokens cannot be checked right now; try again shortly",
        code="SERVICE_UNAVAILABLE",
        status=503,
    )


@dataclass
class VerificationKeys:
    """Where the gateway finds the key that checks a token's signature."""

    public_pem: bytes | None = None
    jwks: jwt.PyJWKClient | None = None

    def key_for(self, token: str) -> object:
        """The key of the token's `kid`. A token that names no key of the set (malformed, no or
        an unknown `kid`) is a 401. A key set that cannot be had (unreachable, not a JWK set,
        no signing key) is the identity provider's outage, not the caller's fault: 503, and
        the same token may be tried again (docs/decisions.md)."""
        if self.jwks is None:
            return self.public_pem
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError as error:
            raise _refused(str(error)) from error
        if not isinstance(kid, str):
            raise _refused("the token names no key (kid)")
        try:
            self.jwks.get_signing_keys()  # the set itself (cached): its failure is not the token's
        except (jwt.PyJWTError, ValueError) as error:
            raise _unavailable(self.jwks.uri, error) from error
        try:
            return self.jwks.get_signing_key(kid).key
        except (jwt.PyJWKClientConnectionError, jwt.PyJWKSetError, ValueError) as error:
            raise _unavailable(self.jwks.uri, error) from error  # refetching for a new kid
        except jwt.PyJWTError as error:
            raise _refused(str(error)) from error

    @classmethod
    def from_settings(cls, settings: Settings) -> VerificationKeys:
        if settings.jwt_jwks_url:
            jwks = jwt.PyJWKClient(
                settings.jwt_jwks_url, cache_keys=True, timeout=JWKS_TIMEOUT_SECONDS
            )
            return cls(jwks=jwks)
        if settings.jwt_public_key:
            return cls(public_pem=settings.jwt_public_key.encode())
        return cls(public_pem=public_key_of(local_private_key(settings.data_dir)))
