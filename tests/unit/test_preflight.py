"""What `elms up` checks before it starts anything (elms.preflight), and how its readiness probe
tells its own services from another ELMS's (elms.supervisor)."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import pytest

from elms.core.config import Settings
from elms.preflight import Refused, holding_data_dir, taken_ports
from elms.supervisor import Supervisor


def test_a_port_something_listens_on_is_named_with_its_service():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        with socket.socket() as free:
            free.bind(("127.0.0.1", 0))
            free_port = free.getsockname()[1]

        problems = taken_ports("127.0.0.1", {"customer": free_port, "gateway": port})

    assert problems == [
        f"port {port} on 127.0.0.1, which the gateway needs, is already in use"
        " (another ELMS, or another program)"
    ]


def test_two_services_given_one_port_are_refused():
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]

    assert taken_ports("127.0.0.1", {"loan": port, "payment": port}) == [
        f"the payment and the loan are both given port {port}"
    ]


def test_a_host_that_is_not_this_machines_is_refused():
    (problem,) = taken_ports("192.0.2.1", {"gateway": 8080})  # TEST-NET-1, never local
    assert problem.startswith("port 8080 on 192.0.2.1, which the gateway needs, cannot be used")


def test_a_data_directory_is_held_by_one_elms_up_at_a_time(tmp_path: Path):
    refusal = r"Another ELMS \(pid \d+\) is running on the data"
    with (
        holding_data_dir(tmp_path / "data"),
        pytest.raises(Refused, match=refusal),
        holding_data_dir(tmp_path / "data"),
    ):
        pass
    with holding_data_dir(tmp_path / "data"):  # released with the first holder
        pass


def _health(data: dict) -> httpx.Response:
    return httpx.Response(200, json={"status": "SUCCESS", "data": data})


def test_the_readiness_probe_accepts_only_its_own_instance(tmp_path: Path):
    supervisor = Supervisor(Settings(data_dir=tmp_path, db_role_secret="s" * 32), {})

    assert supervisor._is_ours(_health({"status": "UP", "instance": supervisor.instance_id}))
    # Another ELMS on the port: UP, but not started here (its credential differs, so it shows
    # no details at all; one sharing the credential shows its own instance).
    assert not supervisor._is_ours(_health({"status": "UP"}))
    assert not supervisor._is_ours(_health({"status": "UP", "instance": "another"}))
    assert not supervisor._is_ours(httpx.Response(200, text="<html>someone else</html>"))
    down = httpx.Response(503, json={"data": {"instance": supervisor.instance_id}})
    assert not supervisor._is_ours(down)
