"""The internal service credential (architecture.md §3): services answer their API only to a
caller presenting it (the gateway, another service), so a service's port cannot be used to go
around the gateway's authentication. Health, info and metrics stay open for operators."""

from __future__ import annotations

import hmac

from starlette.types import ASGIApp, Receive, Scope, Send

from elms.core import envelope
from elms.core.cluster import role_password, role_secret
from elms.core.config import Settings

HEADER = "x-elms-service-token"


def service_credential(settings: Settings) -> str:
    """`ELMS_SERVICE_TOKEN`, else derived from the role secret every process of one deployment
    shares (the data directory's, or `ELMS_DB_ROLE_SECRET`)."""
    return settings.service_token or role_password(role_secret(settings), "elms-internal-calls")


class RequireServiceCredential:
    def __init__(self, app: ASGIApp, credential: str) -> None:
        self.app = app
        self.credential = credential.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope["path"].startswith("/actuator/"):
            offered = dict(scope.get("headers") or []).get(HEADER.encode(), b"")
            if not hmac.compare_digest(offered, self.credential):
                response = envelope.error(
                    401, "UNAUTHORIZED", "Services answer only the gateway and each other"
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
