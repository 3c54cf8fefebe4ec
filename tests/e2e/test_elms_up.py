"""`elms up` as a user runs it: embedded PostgreSQL in a fresh data directory, the services as
supervised processes, data kept between runs, everything stopped by Ctrl-C (SIGINT)."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import psutil

from elms.core.config import SERVICES
from elms.services import APPLICATIONS
from tests.support.elms_up import elms_up, free_port, token


def test_elms_up_serves_restarts_a_dead_service_keeps_data_and_stops_cleanly(tmp_path: Path):
    data_dir = tmp_path / "data"
    ports = {service: free_port() for service in SERVICES}
    env = {k: v for k, v in os.environ.items() if not k.startswith("ELMS_")}
    env.update(ELMS_DATA_DIR=str(data_dir), ELMS_LOG_LEVEL="WARNING")
    for service, free in ports.items():
        env[f"ELMS_{service.upper()}_PORT"] = str(free)
    gateway = f"http://127.0.0.1:{ports['gateway']}"

    with elms_up(env) as running:
        ready = [line.split()[0] for line in running.seen if line.strip().endswith("ready")]
        assert sorted(ready) == sorted(APPLICATIONS), running.seen
        auth = {"Authorization": f"Bearer {token(env)}"}
        created = httpx.post(
            f"{gateway}/api/v1/customers",
            json={
                "firstName": "Grace",
                "lastName": "Hopper",
                "email": "grace@example.com",
                "creditLimit": "2500.00",
            },
            headers=auth,
        )
        assert created.status_code == 201, created.text
        customer_id = created.json()["data"]["customerId"]
        # The service's own port does not answer without the internal credential.
        direct = httpx.get(f"http://127.0.0.1:{ports['customer']}/api/v1/customers/{customer_id}")
        assert direct.status_code == 401

        child = next(
            p
            for p in psutil.Process(running.process.pid).children()
            if "serve" in p.cmdline() and "customer" in p.cmdline()
        )
        child.kill()
        running.wait_for("exited with")
        running.wait_for("ready")
        found = httpx.get(f"{gateway}/api/v1/customers/{customer_id}", headers=auth)
        assert found.status_code == 200
    assert running.process.returncode == 0
    assert not (data_dir / "pgdata" / "postmaster.pid").exists(), "PostgreSQL left running"

    with elms_up(env):
        again = httpx.get(f"{gateway}/api/v1/customers/{customer_id}", headers=auth)
        assert again.status_code == 200
        assert '"availableCredit":2500.00' in again.text
