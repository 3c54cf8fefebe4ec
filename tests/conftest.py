from __future__ import annotations

import decimal
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from elms.core.config import Settings
from elms.core.internal_auth import HEADER, service_credential
from elms.core.observability import configure_logging
from elms.services import app_factory
from tests.support import books, postgres
from tests.support.http import serving

_CALL_REPORT = pytest.StashKey[pytest.TestReport]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> pytest.TestReport:
    # Kept so a fixture's teardown knows whether the test itself passed.
    report = yield
    if report.when == "call":
        item.stash[_CALL_REPORT] = report
    return report


def _passed(node: pytest.Item) -> bool:
    report = node.stash.get(_CALL_REPORT, None)
    return report is not None and report.passed


@pytest.fixture(autouse=True)
def _trap_float_operations() -> Iterator[None]:
    """Money must never meet a float: mixing them raises instead of silently rounding."""
    with decimal.localcontext() as context:
        context.traps[decimal.FloatOperation] = True
        yield


@pytest.fixture(scope="session")
def admin_url() -> str:
    configure_logging("WARNING", as_json=False)
    return postgres.admin_url_for_tests()


@pytest.fixture(scope="session")
async def template(admin_url: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    return await postgres.create_template(admin_url, tmp_path_factory.mktemp("tpl"))


@dataclass(frozen=True)
class ClonedDatabase:
    admin_url: str
    settings: Settings

    def dsn(self, service: str) -> str:
        return postgres.service_dsn(self.settings, service)


@pytest.fixture
async def database(
    admin_url: str, template: str, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[ClonedDatabase]:
    """A database of its own for the test, cloned from the migrated template. When the test
    has passed, its books must balance (`elms reconcile`) before the database is dropped."""
    name = await postgres.clone(admin_url, template)
    url = postgres.on_database(admin_url, name)
    try:
        yield ClonedDatabase(url, postgres.settings_for(url, tmp_path))
        if _passed(request.node):
            await books.assert_books_balance(url, books.allowed_apart(request.node))
    finally:
        await postgres.drop(admin_url, name)


@dataclass
class RunningService:
    url: str
    client: httpx.AsyncClient
    app: object


@asynccontextmanager
async def running(
    service: str, settings: Settings, dsn: str, port: int = 0
) -> AsyncIterator[RunningService]:
    app = app_factory(service)(settings, dsn)
    # Tests speak to services as the gateway does: with the internal service credential.
    headers = {} if service == "gateway" else {HEADER: service_credential(settings)}
    async with (
        serving(app, port) as url,
        httpx.AsyncClient(base_url=url, timeout=30, headers=headers) as client,
    ):
        yield RunningService(url, client, app)


@pytest.fixture
async def customer_service(database: ClonedDatabase) -> AsyncIterator[RunningService]:
    async with running("customer", database.settings, database.dsn("customer")) as service:
        yield service


class System:
    """The services of one test, talking to each other over real HTTP. A service can be stopped
    and started again on its port, as an operator would restart it."""

    def __init__(self, database: ClonedDatabase) -> None:
        self.database = database
        self.settings = database.settings
        self.services: dict[str, RunningService] = {}
        self.ports: dict[str, int] = {}
        self.stacks: dict[str, AsyncExitStack] = {}

    @property
    def customer(self) -> RunningService:
        return self.services["customer"]

    @property
    def loan(self) -> RunningService:
        return self.services["loan"]

    @property
    def payment(self) -> RunningService:
        return self.services["payment"]

    async def start(self, name: str) -> RunningService:
        stack = AsyncExitStack()
        service = await stack.enter_async_context(
            running(name, self.settings, self.database.dsn(name), self.ports.get(name, 0))
        )
        self.stacks[name] = stack
        self.services[name] = service
        self.ports[name] = httpx.URL(service.url).port or 0
        # The services started after this one find it here.
        self.settings = self.settings.model_copy(update={f"{name}_url": service.url})
        return service

    def running_apps(self) -> list[Any]:
        return [self.services[name].app for name in self.stacks]

    async def stop(self, name: str) -> None:
        await self.stacks.pop(name).aclose()

    async def close(self) -> None:
        for name in reversed(list(self.stacks)):
            await self.stop(name)


@pytest.fixture
async def system(database: ClonedDatabase, request: pytest.FixtureRequest) -> AsyncIterator[System]:
    started = System(database)
    try:
        for name in ("customer", "loan", "payment"):
            await started.start(name)
        yield started
        if _passed(request.node):
            await books.go_quiet(started.running_apps())
    finally:
        await started.close()


def pytest_report_header() -> str:
    where = os.environ.get("ELMS_TEST_DATABASE_URL", "embedded PostgreSQL")
    return f"ELMS tests on: {where}"


def bearer(settings: Settings, role: str = "ADMIN", customer_id: str | None = None) -> str:
    """An Authorization header value for a token of the gateway's local key (no session)."""
    from datetime import timedelta

    from elms.core.clock import utcnow
    from elms.gateway.keys import local_private_key
    from elms.gateway.tokens import Role, mint

    token = mint(
        local_private_key(settings.data_dir),
        subject=f"test-{role.lower()}",
        role=Role(role),
        customer_id=customer_id,
        session_id=None,
        issued_at=utcnow(),
        ttl=timedelta(hours=1),
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
    )
    return f"Bearer {token}"


@asynccontextmanager
async def running_gateway(settings: Settings, dsn: str) -> AsyncIterator[RunningService]:
    """A gateway whose client carries an ADMIN token (and, for the gateway's operational
    endpoints, the internal credential, as a metrics scraper would)."""
    async with running("gateway", settings, dsn) as service:
        service.client.headers["Authorization"] = bearer(settings)
        service.client.headers[HEADER] = service_credential(settings)
        yield service


@pytest.fixture
async def gateway(system: System, database: ClonedDatabase) -> AsyncIterator[RunningService]:
    """The gateway in front of the system's services."""
    settings = system.settings.model_copy(update={"payment_url": system.payment.url})
    async with running_gateway(settings, database.dsn("gateway")) as service:
        yield service
