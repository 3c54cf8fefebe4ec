"""`ELMS_METRICS_TOKEN`: a scraper's bearer token opens `/actuator/prometheus` of every service
and the gateway, and nothing else (issue 14)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest

from elms.core.config import Settings
from elms.core.internal_auth import HEADER, service_credential
from elms.services import app_factory
from tests.support.http import serving

METRICS_TOKEN = "scrape-me-0123456789abcdef"


@asynccontextmanager
async def _stranger(service: str, settings: Settings, dsn: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the service that holds no credential of its own."""
    async with (
        serving(app_factory(service)(settings, dsn)) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as client,
    ):
        yield client


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("service", ["customer", "loan", "payment", "gateway"])
async def test_the_metrics_token_reads_metrics_and_nothing_else(database, service):
    settings = database.settings.model_copy(update={"metrics_token": METRICS_TOKEN})
    async with _stranger(service, settings, database.dsn(service)) as scraper:
        metrics = await scraper.get("/actuator/prometheus", headers=_bearer(METRICS_TOKEN))
        assert metrics.status_code == 200, metrics.text
        assert metrics.headers["content-type"].startswith("text/plain")
        assert "http_requests_total" in metrics.text

        wrong = (
            {},
            _bearer("scrape-me-0123456789abcdeX"),
            {"Authorization": "Bearer"},
            {"Authorization": METRICS_TOKEN},
        )
        for offered in wrong:
            answer = await scraper.get("/actuator/prometheus", headers=offered)
            assert answer.status_code == 401, (offered, answer.text)
            assert answer.json()["error"]["code"] == "UNAUTHORIZED"

        elsewhere = ["/actuator/outbox/failed", "/api/v1/customers"]
        elsewhere.append(
            "/actuator/circuitbreakers" if service == "gateway" else "/internal/v1/events"
        )
        for path in elsewhere:
            answer = await scraper.get(path, headers=_bearer(METRICS_TOKEN))
            assert answer.status_code == 401, (path, answer.text)
        health = await scraper.get("/actuator/health", headers=_bearer(METRICS_TOKEN))
        assert health.json()["data"] == {"status": "UP"}
        # The internal credential still reads them, as the services and operators do.
        internal = {HEADER: service_credential(settings)}
        assert (await scraper.get("/actuator/prometheus", headers=internal)).status_code == 200


async def test_without_a_metrics_token_configured_no_bearer_reads_metrics(database):
    assert database.settings.metrics_token is None
    async with _stranger("customer", database.settings, database.dsn("customer")) as scraper:
        for offered in ({"Authorization": "Bearer"}, _bearer("None"), _bearer(METRICS_TOKEN)):
            answer = await scraper.get("/actuator/prometheus", headers=offered)
            assert answer.status_code == 401, offered


def test_a_metrics_token_too_short_to_be_a_secret_is_refused_at_start():
    with pytest.raises(ValueError, match="metrics_token"):
        Settings(metrics_token="short")
