"""`elms up` as a user runs it, for the tests that need the whole system as processes: a fresh
data directory, free ports, and a token from `elms token` (`bench.system`, shared with the
fault-injection suite); and the books checked as an operator checks them."""

from __future__ import annotations

import subprocess
import sys

from bench.system import Running, admin_url, elms_up, environment, free_port, token

__all__ = ["Running", "admin_url", "books_balance", "elms_up", "environment", "free_port", "token"]


def books_balance(env: dict[str, str]) -> None:
    """`elms reconcile` on the system of `env`, as an operator runs it: the books balance."""
    checked = subprocess.run(
        [sys.executable, "-m", "elms", "reconcile"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "The books balance." in checked.stdout
