"""The rate limit counts what a client cannot choose: the socket's address (a forwarded-for
header only from a trusted proxy) and, once the token is read, the user."""

from __future__ import annotations

from tests.conftest import bearer, running_gateway


async def _limited(system, database, **settings):
    changed = system.settings.model_copy(
        update={"payment_url": system.payment.url, "rate_limit": "3/minute", **settings}
    )
    return running_gateway(changed, database.dsn("gateway"))


async def test_a_client_cannot_buy_a_fresh_budget_with_a_forwarded_for_header(system, database):
    async with await _limited(system, database) as gateway:
        answers = [
            await gateway.client.get(
                "/api/v1/customers?size=1", headers={"X-Forwarded-For": f"6.6.6.{n}"}
            )
            for n in range(4)
        ]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]


async def test_behind_a_trusted_proxy_one_user_still_has_one_budget(system, database):
    async with await _limited(system, database, trusted_proxies="127.0.0.1/32") as gateway:
        answers = [
            await gateway.client.get(
                "/api/v1/customers?size=1", headers={"X-Forwarded-For": f"198.51.100.{n}"}
            )
            for n in range(4)
        ]
        # Another user from another address has a budget of their own.
        other = await gateway.client.get(
            "/api/v1/customers?size=1",
            headers={
                "X-Forwarded-For": "198.51.100.99",
                "Authorization": bearer(system.settings, "LOAN_OFFICER"),
            },
        )
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[3].json()["error"]["code"] == "RATE_LIMITED"
    assert int(answers[3].headers["retry-after"]) >= 1
    assert other.status_code == 200
