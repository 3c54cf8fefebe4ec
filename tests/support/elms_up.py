"""`elms up` as a user runs it, for the tests that need the whole system as processes: a fresh
data directory, free ports, and a token from `elms token` (`bench.system`, shared with the
fault-injection suite); and the books checked as an operator checks them."""

from __future__ import annotations

from bench.system import (
    Running,
    admin_url,
    elms_up,
    environment,
    free_port,
    reconcile,
    token,
)

__all__ = ["Running", "admin_url", "books_balance", "elms_up", "environment", "free_port", "token"]


def books_balance(env: dict[str, str]) -> None:
    """`elms reconcile` on the system of `env`, as an operator runs it: the books balance."""
    checked = reconcile(env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "The books balance." in checked.stdout
