"""Every integration test ends by checking the books (`elms reconcile`) across the four schemas.

The check runs when a test's database is torn down, after its services have gone quiet: each
running service's outbox relay has delivered what is due (the tests drive the relay by hand, so
without this an approval a test never relayed would look like a broken book). A test that leaves
the books apart on purpose says which invariants, and why, with `@pytest.mark.books_apart`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest

from elms.core import outbox
from elms.core.clock import utcnow
from elms.reconcile import INVARIANTS, reconcile, render

MARKER = "books_apart"
_NAMES = frozenset(invariant.name for invariant in INVARIANTS)


async def go_quiet(apps: Iterable[Any]) -> None:
    """Relay every running service's outbox until a full pass delivers nothing. (An event
    waiting out a retry backoff stays pending: it is in flight, as it would be in production.)"""
    apps = list(apps)
    while True:
        delivered = 0
        for app in apps:
            delivered += await outbox.relay(
                app.state.db, outbox.http_delivery(app.state.services), utcnow()
            )
        if not delivered:
            return


def allowed_apart(node: pytest.Item) -> frozenset[str]:
    """The invariants this test may leave violated: those its `books_apart` marks name, every
    one for a mark naming none. The mark must give its reason."""
    allowed: set[str] = set()
    for mark in node.iter_markers(MARKER):
        if not mark.kwargs.get("reason"):
            pytest.fail(f"@pytest.mark.{MARKER} needs a reason=", pytrace=False)
        unknown = set(mark.args) - _NAMES
        if unknown:
            pytest.fail(f"@pytest.mark.{MARKER} names no invariant {sorted(unknown)}")
        allowed |= set(mark.args) or _NAMES
    return frozenset(allowed)


async def assert_books_balance(admin_url: str, allowed: frozenset[str] = frozenset()) -> None:
    report = await reconcile(admin_url)
    unexpected = [v for v in report.violations if v.invariant not in allowed]
    assert not unexpected, render(report)
