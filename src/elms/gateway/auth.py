"""Authentication at the gateway: the bearer token, its session, and logout (api.md §6)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from fastapi import APIRouter, Request
from starlette.responses import Response

from elms.core import envelope
from elms.core.clock import utcnow
from elms.core.config import Settings
from elms.core.database import Database
from elms.core.envelope import Envelope
from elms.core.ids import new_id
from elms.gateway import repository as repo
from elms.gateway.keys import VerificationKeys, local_private_key
from elms.gateway.responses import LogoutOut
from elms.gateway.tokens import Principal, Role, mint, unauthorized, verify

router = APIRouter(include_in_schema=False, tags=["auth"])


async def authenticate(request: Request) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise unauthorized("A bearer token is required")
    settings: Settings = request.app.state.settings
    keys: VerificationKeys = request.app.state.verification_keys
    token = token.strip()
    # An identity provider's key set is fetched over the network by a blocking client: off the
    # event loop, so one slow fetch does not stall every request.
    key = await asyncio.to_thread(keys.key_for, token) if keys.jwks else keys.key_for(token)
    principal = verify(
        token,
        key,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        algorithm=settings.jwt_algorithm,
    )
    if principal.session_id is not None:
        db: Database = request.app.state.db
        async with db.connection() as conn:
            live = await repo.session_is_live(conn, principal.session_id, utcnow())
        if not live:
            raise unauthorized("The session has ended")
    request.state.principal = principal
    await request.app.state.budget.spend_for_subject(principal.subject)
    return principal


@router.post("/api/v1/auth/logout", response_model=Envelope[LogoutOut])
async def logout(request: Request) -> Response:
    principal = await authenticate(request)
    ended = False
    if principal.session_id is not None:
        async with request.app.state.db.transaction() as conn:
            ended = await repo.end_session(conn, principal.session_id)
    return envelope.success({"sessionEnded": ended}, "Logged out")


async def issue_token(
    db: Database,
    settings: Settings,
    *,
    subject: str,
    role: Role,
    customer_id: str | None,
    ttl: timedelta,
) -> str:
    """A token signed with the local key, its session recorded in session_data."""
    now = utcnow()
    session_id = new_id("SESS")
    async with db.transaction() as conn:
        await repo.insert_session(
            conn,
            session_id=session_id,
            user_id=subject,
            customer_id=customer_id,
            data={"role": role.value, "issuedBy": "elms token"},
            created_at=now,
            expires_at=now + ttl,
        )
    return mint(
        local_private_key(settings.data_dir),
        subject=subject,
        role=role,
        customer_id=customer_id,
        session_id=session_id,
        issued_at=now,
        ttl=ttl,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
    )
