"""The contract suite: the public OpenAPI document against a real `elms up` (every service its
own process, embedded PostgreSQL), through the gateway as a client sees it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from elms.core.config import Settings
from elms.core.internal_auth import service_credential
from tests.support.elms_up import books_balance, elms_up, environment, token

# Schemathesis sends thousands of requests: far past the gateway's default rate limit.
RATE_LIMIT = "1000000/minute"
DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"


@dataclass(frozen=True)
class System:
    env: dict[str, str]
    url: str
    admin_token: str

    def credential(self) -> str:
        """The internal service credential of this system, for its operational endpoints."""
        return service_credential(Settings(data_dir=Path(self.env["ELMS_DATA_DIR"])))

    def get(self, path: str, **headers: str) -> httpx.Response:
        return httpx.get(f"{self.url}{path}", headers=headers, timeout=30)


@pytest.fixture(scope="package")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    data_dir = tmp_path_factory.mktemp("contract") / "data"
    env = environment(data_dir, ELMS_RATE_LIMIT=RATE_LIMIT)
    with elms_up(env):
        url = f"http://127.0.0.1:{env['ELMS_GATEWAY_PORT']}"
        running = System(env, url, token(env, "--sub", "contract", "--role", "ADMIN"))
        yield running
        # Whatever the generated requests did, the services' books still agree, once the
        # operator has done what was left to them.
        _cancel_sagas_left_to_the_operator(running)
        books_balance(env)


def _cancel_sagas_left_to_the_operator(system: System) -> None:
    """A saga started with compensationPolicy MANUAL stops FAILED when a step refuses, for an
    operator to decide (docs/sagas.md); the generated requests start such sagas, and the
    operator cancels them (compensated, CANCELLED). A FAILED saga of the AUTOMATIC policy is
    left as it is, for the books to report."""
    bearer = {"Authorization": f"Bearer {system.admin_token}"}

    def read(path: str) -> dict:
        answer = httpx.get(f"{system.url}{path}", headers=bearer, timeout=30)
        assert answer.status_code == 200, answer.text
        return answer.json()["data"]

    failed: list[str] = []
    page, pages = 0, 1
    while page < pages:
        found = read(f"/api/v1/saga/history?status=FAILED&size=100&page={page}")
        failed += [saga["sagaId"] for saga in found["content"]]
        page, pages = page + 1, found["totalPages"]
    for saga_id in failed:
        if read(f"/api/v1/saga/states/{saga_id}")["compensationPolicy"] == "MANUAL":
            cancel = f"{system.url}/api/v1/saga/{saga_id}/cancel"
            cancelled = httpx.post(cancel, headers=bearer, timeout=60)
            assert cancelled.status_code == 200, cancelled.text
