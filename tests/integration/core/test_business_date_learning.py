"""How services other than the loan service learn the business date (docs/business-day.md): from
the loan service's answers, and from calls of services that present the internal credential —
never from a client, whether it calls a service's port or goes through the gateway."""

from __future__ import annotations

from datetime import date, timedelta

import httpx

from elms.core.business_day import calendar_date
from elms.core.internal_auth import HEADER as CREDENTIAL
from elms.core.internal_auth import service_credential
from tests.conftest import running, running_gateway

FORGED = {"X-ELMS-Business-Date": "2099-01-01"}


def _business_date(response) -> date:
    return date.fromisoformat(response.json()["metadata"]["businessDate"])


async def test_a_service_learns_a_later_date_only_from_a_caller_with_the_credential(database):
    settings = database.settings.model_copy(update={"business_date_mode": "manual"})
    async with running("payment", settings, database.dsn("payment")) as payment:
        credential = payment.client.headers[CREDENTIAL]
        # Health answers anyone; a header from a caller without the credential is not believed,
        # nor from one with a wrong credential.
        for who in ({}, {CREDENTIAL: "not-the-credential"}):
            async with httpx.AsyncClient(base_url=payment.url) as stranger:
                answer = await stranger.get("/actuator/health", headers={**who, **FORGED})
            assert answer.status_code == 200, answer.text
            assert _business_date(answer) == calendar_date()
        assert _business_date(await payment.client.get("/actuator/health")) == calendar_date()
        # A service that presents the credential is believed, when later than what is known;
        # an earlier date never moves it back.
        told = await payment.client.get("/api/v1/payments/PAY-X", headers=FORGED)
        assert told.status_code == 404
        assert _business_date(told) == date(2099, 1, 1)
        earlier = {"X-ELMS-Business-Date": (calendar_date() - timedelta(days=30)).isoformat()}
        answer = await payment.client.get("/actuator/health", headers=earlier)
        assert _business_date(answer) == date(2099, 1, 1)
        assert credential == service_credential(settings)


async def test_a_client_cannot_move_the_date_through_the_gateway(system, database):
    settings = system.settings.model_copy(update={"business_date_mode": "manual"})
    async with running_gateway(settings, database.dsn("gateway")) as gateway:
        answer = await gateway.client.get("/api/v1/operations/business-date", headers=FORGED)
        assert answer.status_code == 200, answer.text
        # The loan service (calendar mode here) says today; neither it nor the gateway took
        # the forged date.
        assert answer.json()["data"]["businessDate"] == calendar_date().isoformat()
        assert _business_date(answer) == calendar_date()
        again = await gateway.client.get("/api/v1/loans/LOAN-NONE", headers=FORGED)
        assert _business_date(again) == calendar_date()
