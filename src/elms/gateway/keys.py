"""The gateway's token keys: a local RSA key pair made on first start in the data directory,
or an external identity provider's public key or JWKS URL instead."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from elms.core.config import Settings
from elms.core.datafiles import create_once

PRIVATE_KEY_FILE = "gateway-jwt-private.pem"


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


@dataclass
class VerificationKeys:
    """Where the gateway finds the key that checks a token's signature."""

    public_pem: bytes | None = None
    jwks: jwt.PyJWKClient | None = None

    def key_for(self, token: str) -> object:
        if self.jwks is not None:
            return self.jwks.get_signing_key_from_jwt(token).key
        return self.public_pem

    @classmethod
    def from_settings(cls, settings: Settings) -> VerificationKeys:
        if settings.jwt_jwks_url:
            return cls(jwks=jwt.PyJWKClient(settings.jwt_jwks_url, cache_keys=True))
        if settings.jwt_public_key:
            return cls(public_pem=settings.jwt_public_key.encode())
        return cls(public_pem=public_key_of(local_private_key(settings.data_dir)))
