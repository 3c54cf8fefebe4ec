"""`elms up` and `elms token` refuse, clearly and with a non-zero exit, what cannot work
(issue 14): a port another program or another ELMS listens on, a data directory another
`elms up` holds, a token for a data directory no running ELMS uses."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from elms.preflight import LOCK_FILE
from tests.support.elms_up import elms_up, environment, free_port, token

# Only a bound: a refusal comes before anything starts.
COMMAND_SECONDS = 120


def _elms(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "elms", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=COMMAND_SECONDS,
    )


def test_elms_up_refuses_a_port_another_program_listens_on(tmp_path: Path):
    env = environment(tmp_path / "data")
    with socket.socket() as other_program:
        other_program.bind(("127.0.0.1", free_port()))
        other_program.listen()
        port = other_program.getsockname()[1]
        env["ELMS_LOAN_PORT"] = str(port)

        refused = _elms(env, "up")

    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert f"port {port} on 127.0.0.1, which the loan needs, is already in use" in refused.stderr
    assert "ELMS_<SERVICE>_PORT" in refused.stderr
    assert "ELMS is running" not in refused.stdout
    # Refused before the database was started or anything was made in it.
    assert not (tmp_path / "data" / "pgdata").exists()


def test_a_second_elms_is_refused_its_ports_and_its_data_directory(tmp_path: Path):
    first_dir = tmp_path / "first"
    first = environment(first_dir)
    with elms_up(first) as running:
        ports_of_the_first = {k: v for k, v in first.items() if k.endswith("_PORT")}
        second = {**environment(tmp_path / "second"), **ports_of_the_first}
        refused = _elms(second, "up")
        assert refused.returncode == 1, refused.stdout + refused.stderr
        gateway_port = first["ELMS_GATEWAY_PORT"]
        assert f"port {gateway_port} on 127.0.0.1, which the gateway needs" in refused.stderr
        assert "ELMS is running" not in refused.stdout

        same_directory = environment(first_dir)  # other ports
        refused = _elms(same_directory, "up")
        assert refused.returncode == 1, refused.stdout + refused.stderr
        assert (
            f"Another ELMS (pid {running.process.pid}) is running on the data directory "
            f"{first_dir}" in refused.stderr
        )

        assert token(first).count(".") == 2  # the first one is still there, and mints tokens
    assert running.process.returncode == 0
    # The lock goes with the process: the data directory can be used again.
    assert (first_dir / LOCK_FILE).exists()

    stopped = _elms(first, "token", "--sub", "late")
    assert stopped.returncode == 1, stopped.stdout + stopped.stderr
    assert f"No ELMS is running on the data directory {first_dir}" in stopped.stderr
    assert stopped.stdout == ""
    assert not (first_dir / "pgdata" / "postmaster.pid").exists(), "the token started PostgreSQL"


def test_elms_token_for_a_data_directory_no_elms_uses_creates_nothing(tmp_path: Path):
    env = environment(tmp_path / "elsewhere")

    refused = _elms(env, "token", "--sub", "alice", "--role", "LOAN_OFFICER")

    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert f"No ELMS has run on the data directory {tmp_path / 'elsewhere'}" in refused.stderr
    assert "elms up" in refused.stderr
    assert refused.stdout == ""
    assert not (tmp_path / "elsewhere").exists()
