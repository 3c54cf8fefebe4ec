"""Schemathesis over the public document against a real `elms up` (tests/contract/
schemathesis.toml): every operation, every default check (server errors, status codes, content
types, response schemas and headers, negative and positive data, authentication, methods), a
bounded number of examples each, and not one failure."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from tests.contract.conftest import DOCUMENT, System
from tests.support.elms_up import token

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
LOGOUT = "/api/v1/auth/logout"
RUN_SECONDS = 600


def _schemathesis(
    system: System, bearer: str, where: Path, *selection: str
) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "ELMS_CONTRACT_URL": system.url,
        "ELMS_CONTRACT_TOKEN": bearer,
        "ELMS_CONTRACT_CREDENTIAL": system.credential(),
        "SCHEMATHESIS_HOOKS": "tests.contract.hooks",
        "PYTHONPATH": str(ROOT),
        "NO_COLOR": "1",
    }
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "--config-file",
            str(HERE / "schemathesis.toml"),
            "run",
            f"{system.url}/openapi.json",
            *selection,
        ],
        env=env,
        cwd=where,  # its own files (.schemathesis/) there, not in the repository
        capture_output=True,
        text=True,
        timeout=RUN_SECONDS,
    )


def _tested(run: subprocess.CompletedProcess) -> int:
    """How many operations the run tested, once it found nothing wrong with any."""
    assert run.returncode == 0, run.stdout[-20000:] + run.stderr[-5000:]
    found = re.search(r"^\s*Tested: (\d+)$", run.stdout, re.MULTILINE)
    assert found is not None, run.stdout[-5000:]
    return int(found.group(1))


def _operations() -> int:
    document = json.loads(DOCUMENT.read_text())
    return sum(len(operations) for operations in document["paths"].values())


def test_every_operation_but_logout_keeps_its_contract(system: System, tmp_path: Path):
    run = _schemathesis(system, system.admin_token, tmp_path, "--exclude-path", LOGOUT)
    assert _tested(run) == _operations() - 1


def test_logout_keeps_its_contract(system: System, tmp_path: Path):
    # Logging out ends the token's session: a token of its own, so no other test loses theirs.
    own = token(system.env, "--sub", "contract-logout", "--role", "ADMIN")
    assert _tested(_schemathesis(system, own, tmp_path, "--include-path", LOGOUT)) == 1
