"""The internal service credential (architecture.md §3): services answer only a caller
presenting it (the gateway, another service), so a service's port cannot be used to go around
the gateway's authentication. Health and info stay open. A metrics scraper is given a token of
its own, `ELMS_METRICS_TOKEN`, that opens `/actuator/prometheus` and nothing else: the internal
credential opens every internal route, which a monitoring system has no need of."""

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
METRICS_PATH = "/actuator/prometheus"


def service_credential(settings: Settings) -> str:
    """`ELMS_SERVICE_TOKEN`, else derived from the role secret every process of one deployment
    shares (the data directory's, or `ELMS_DB_ROLE_SECRET`)."""
    return settings.service_token or role_password(role_secret(settings), "elms-internal-calls")


class RequireServiceCredential:
    """Guards every path but health and info, or only those under `prefix` (the gateway guards
    its operational endpoints; its API is guarded by tokens instead)."""

    def __init__(
        self,
        app: ASGIApp,
        credential: str,
        prefix: str = "/",
        metrics_token: str | None = None,
    ) -> None:
        self.app = app
        self.credential = credential.encode()
        self.prefix = prefix
        self.metrics_authorization = (
            f"Bearer {metrics_token}".encode() if metrics_token is not None else None
        )

    def _admits(self, path: str, headers: dict[bytes, bytes]) -> bool:
        if hmac.compare_digest(headers.get(HEADER.encode(), b""), self.credential):
            return True
        return (
            path == METRICS_PATH
            and self.metrics_authorization is not None
            and hmac.compare_digest(headers.get(b"authorization", b""), self.metrics_authorization)
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if (
            scope["type"] == "http"
            and path.startswith(self.prefix)
            and path.rstrip("/") not in OPEN_PATHS
            and not self._admits(path, dict(scope.get("headers") or []))
        ):
            response = envelope.error(
                401, "UNAUTHORIZED", "Services answer only the gateway and each other"
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
