"""Where each service's database is: an embedded or configured cluster, and a role per service.

Three ways, in order of precedence (docs/database.md):
1. `ELMS_<SERVICE>_DATABASE_URL`: the service's own credentials; ELMS creates no role.
2. `ELMS_DATABASE_URL`: an administrator of one cluster; ELMS creates the role `elms_<service>`
   owning the schema, its password derived from the role secret.
3. Neither: the embedded PostgreSQL in the data directory, as in 2.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import quote, urlsplit, urlunsplit

from elms.core.config import SERVICES, ServiceSpec, Settings
from elms.core.datafiles import create_once
from elms.core.embedded import start_embedded


@dataclass(frozen=True)
class ServiceDatabase:
    spec: ServiceSpec
    dsn: str
    # The administrator's URL when ELMS provisions the role and schema, else None.
    admin_dsn: str | None


def with_credentials(url: str, user: str, password: str) -> str:
    """The same server and database as `url`, logged in as another user."""
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def role_password(secret: str, role: str) -> str:
    return hmac.new(secret.encode(), role.encode(), hashlib.sha256).hexdigest()


def role_secret(settings: Settings) -> str:
    """The configured secret, or one made on first use and kept (0600) in the data directory."""
    if settings.db_role_secret:
        return settings.db_role_secret
    path = settings.data_dir / "db-role-secret"
    return create_once(path, secrets.token_hex(32).encode()).decode().strip()


def uses_embedded(settings: Settings, services: Iterable[str]) -> bool:
    """Whether these services run on the embedded server: no cluster URL, and not every one
    of them has its own."""
    return not settings.database_url and not all(
        settings.own_database_url(name) for name in services
    )


def admin_url(settings: Settings, services: Iterable[str]) -> str | None:
    """The administrator URL ELMS provisions these services with, starting the embedded server
    when needed; None when each of them has its own URL."""
    if settings.database_url:
        return settings.database_url
    if not uses_embedded(settings, services):
        return None
    return start_embedded(settings.data_dir)


def service_database(settings: Settings, service: str, admin: str | None) -> ServiceDatabase:
    spec = SERVICES[service]
    own = settings.own_database_url(service)
    if own:
        return ServiceDatabase(spec, own, None)
    if admin is None:
        raise ValueError(f"no database configured for the {service} service")
    dsn = with_credentials(admin, spec.role, role_password(role_secret(settings), spec.role))
    return ServiceDatabase(spec, dsn, admin)
