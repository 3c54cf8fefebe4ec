"""The internal service credential (architecture.md §3): services answer only a caller
presenting it (the gateway, another service, a metrics scraper given it), so a service's port
cannot be used to go around the gateway's authentication. Health and info stay open."""

from __future__ import annotations

import hmac

from starlette.types import ASGIApp, Receive, Scope, Send

from elms.core import envelope
from elms.core.cluster import role_password, role_secret
from elms.core.config import Settings
from elms.core.principal import USER_HEADER

HEADER = "x-elms-service-token"
# Who the gateway authenticated, on the requests it forwards (the token's subject). Only a caller
# with the credential can reach a service, and the gateway never passes a client's own header.
ACTING_USER = USER_HEADER
OPEN_PATHS = frozenset({"/actuator/health", "/actuator/info"})


def service_credential(settings: Settings) -> str:
    """`ELMS_SERVICE_TOKEN`, else derived from the role secret every process of one deployment
    shares (the data directory's, or `ELMS_DB_ROLE_SECRET`)."""
    return settings.service_token or role_password(role_secret(settings), "elms-internal-calls")


class RequireServiceCredential:
    """Guards every path but health and info, or only those under `prefix` (the gateway guards
    its operational endpoints; its API is guarded by tokens instead)."""

    def __init__(self, app: ASGIApp, credential: str, prefix: str = "/") -> None:
        self.app = app
        self.credential = credential.encode()
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if (
            scope["type"] == "http"
            and path.startswith(self.prefix)
            and path.rstrip("/") not in OPEN_PATHS
        ):
            offered = dict(scope.get("headers") or []).get(HEADER.encode(), b"")
            if not hmac.compare_digest(offered, self.credential):
                response = envelope.error(
                    401, "UNAUTHORIZED", "Services answer only the gateway and each other"
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
