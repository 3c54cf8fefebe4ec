"""A background job's failing rounds: an outage of the database is one warning without a
traceback, then one line when rounds succeed again; any other error is logged with its
traceback, once while it lasts."""

from __future__ import annotations

import asyncio
import logging

import pytest
import structlog
from structlog.testing import LogCapture

from elms.core import background
from elms.core.background import Job, running
from elms.core.database import DatabaseUnavailable


@pytest.fixture(autouse=True)
def captured(monkeypatch) -> LogCapture:
    """The module's logger, at every level, whatever the logging configuration of the run."""
    capture = LogCapture()
    logger = structlog.wrap_logger(
        None,
        processors=[capture],
        wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG),
    )
    monkeypatch.setattr(background, "log", logger)
    return capture


async def _rounds(outcomes: list[Exception | None], captured: LogCapture) -> list[dict]:
    """Run a job whose rounds end as `outcomes` say (an error raised, or None: done), and the
    log lines of those rounds."""
    left = list(outcomes)
    finished = asyncio.Event()

    async def run() -> int:
        outcome = left.pop(0)
        if not left:
            finished.set()
        if outcome is not None:
            raise outcome
        return 1

    async with running([Job("test-job", 0, run)]):
        await finished.wait()
    return [e for e in captured.entries if e["log_level"] != "debug"]


async def test_a_database_outage_is_one_warning_and_its_end_one_line(captured):
    outcomes = [DatabaseUnavailable("gone"), DatabaseUnavailable("gone"), None]
    logs = await _rounds(outcomes, captured)
    assert [(e["log_level"], e["event"]) for e in logs] == [
        ("warning", "job round failed: the database is out of reach"),
        ("info", "job rounds succeed again"),
    ]
    assert "exc_info" not in logs[0]
    assert logs[0]["error"] == "DatabaseUnavailable: gone"


async def test_a_bug_is_logged_with_its_traceback_once(captured):
    logs = await _rounds([ValueError("bug"), ValueError("bug"), None], captured)
    assert [(e["log_level"], e["event"]) for e in logs] == [
        ("error", "job round failed"),
        ("info", "job rounds succeed again"),
    ]
    assert logs[0]["exc_info"] is True
