"""Bearer tokens (api.md §6): what a token must carry, and the scopes of each role. Pure: the
time is passed in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt
import structlog

from elms.core.errors import DomainError
from elms.core.principal import Caller, Role, forbidden

__all__ = ["INVALID_TOKEN", "Principal", "Role", "forbidden", "mint", "unauthorized", "verify"]

log = structlog.get_logger("elms.gateway.tokens")

# What a caller is told of a token refused: the library's reasons (which claim, which key,
# where decoding broke) help an attacker probe, so they go to the log, not to the answer.
INVALID_TOKEN = "The token is not valid"

ALL_SCOPES = (
    "customer:read",
    "customer:write",
    "credit:manage",
    "loan:read",
    "loan:create",
    "loan:approve",
    "payment:read",
    "payment:process",
    "saga:read",
    "saga:manage",
    "product:manage",
    "operations:manage",
)
MAX_SUBJECT = 255
# A customer reads and acts on their own things; officers run the book; admins run everything.
ROLE_SCOPES = {
    Role.CUSTOMER: (
        "customer:read",
        "customer:write",
        "loan:read",
        "loan:create",
        "payment:read",
        "payment:process",
        # Their own sagas only: a loan application or payment they started (gateway/saga/api.py).
        "saga:read",
    ),
    Role.LOAN_OFFICER: tuple(
        s for s in ALL_SCOPES if s not in {"saga:manage", "product:manage", "operations:manage"}
    ),
    Role.ADMIN: ALL_SCOPES,
}


@dataclass(frozen=True)
class Principal:
    subject: str
    role: Role
    scopes: frozenset[str]
    customer_id: str | None
    session_id: str | None

    @property
    def is_customer(self) -> bool:
        return self.role is Role.CUSTOMER

    @property
    def caller(self) -> Caller:
        """The principal as the services are told of it."""
        return Caller(self.subject, self.role, self.customer_id)


def unauthorized(message: str) -> DomainError:
    return DomainError(message, code="UNAUTHORIZED", status=401)


def mint(
    private_pem: bytes,
    *,
    subject: str,
    role: Role,
    customer_id: str | None,
    session_id: str | None,
    issued_at: datetime,
    ttl: timedelta,
    issuer: str,
    audience: str,
) -> str:
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": audience,
        "sub": subject,
        "role": role.value,
        "scope": list(ROLE_SCOPES[role]),
        "iat": int(issued_at.timestamp()),
        "exp": int((issued_at + ttl).timestamp()),
    }
    if customer_id:
        claims["customerId"] = customer_id
    if session_id:
        claims["sid"] = session_id
    return jwt.encode(claims, private_pem, algorithm="RS256")


def _plain_text(value: object) -> bool:
    return isinstance(value, str) and 0 < len(value) <= MAX_SUBJECT and value.isprintable()


def verify(token: str, key: object, *, issuer: str, audience: str, algorithm: str) -> Principal:
    """The token's principal, or 401: bad signature, wrong issuer or audience, expired, or
    missing any claim the gateway needs."""
    try:
        claims = jwt.decode(
            token,
            key,  # type: ignore[arg-type]
            algorithms=[algorithm],
            issuer=issuer,
            audience=audience,
            options={"require": ["exp", "sub", "iss", "aud"]},
        )
        role = Role(claims.get("role"))
    except (jwt.PyJWTError, ValueError) as error:
        log.info("token refused", reason=f"{type(error).__name__}: {error}")
        raise unauthorized(INVALID_TOKEN) from error
    scopes = claims.get("scope", [])
    if isinstance(scopes, str):
        scopes = scopes.split()
    subject = claims["sub"]
    customer_id = claims.get("customerId")
    # The subject is recorded as who acted (reviewer_id, verified_by, audit rows: 255 at most);
    # it and the customer id travel to the services in headers, so they must be plain text.
    # An identity provider's odd claim types are the token's fault, never a 500.
    if not (
        _plain_text(subject)
        and (customer_id is None or _plain_text(customer_id))
        and isinstance(scopes, list)
        and all(isinstance(s, str) for s in scopes)
        and isinstance(claims.get("sid"), str | None)
    ):
        log.info("token refused", reason="sub, customerId, scope or sid of the wrong form")
        raise unauthorized(INVALID_TOKEN)
    if role is Role.CUSTOMER and not customer_id:
        raise unauthorized("A customer's token must name its customerId")
    # An identity provider's token may list any scope; a role never gets more than its own
    # (a CUSTOMER token carrying `loan:approve` could otherwise approve its own loan).
    allowed = frozenset(scopes) & frozenset(ROLE_SCOPES[role])
    return Principal(subject, role, allowed, customer_id, claims.get("sid"))
