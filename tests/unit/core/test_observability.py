"""Logs for whoever reads them (elms.core.observability): a person at a terminal reads lines, a
machine reads JSON; and a request answered is not a line in the terminal."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator

import pytest
import structlog

from elms.core.observability import configure_logging, rendering
from elms.core.web import access_log_level


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def logged(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, io.StringIO]]:
    """stderr as a terminal and as a pipe; logging as the test suite has it again afterwards."""
    streams = {"terminal": Terminal(), "pipe": io.StringIO()}
    yield streams
    monkeypatch.undo()
    configure_logging("WARNING", as_json=False)


def _log_to(stream: io.StringIO, monkeypatch: pytest.MonkeyPatch, **event: str) -> str:
    monkeypatch.setattr(sys, "stderr", stream)
    configure_logging("INFO")
    structlog.get_logger("elms.test").warning("request", **event)
    return stream.getvalue()


def test_a_terminal_gets_readable_lines_and_a_pipe_gets_json():
    assert isinstance(rendering(Terminal())[-1], structlog.dev.ConsoleRenderer)
    assert isinstance(rendering(io.StringIO())[-1], structlog.processors.JSONRenderer)


def test_the_setting_overrides_what_the_stream_is():
    assert isinstance(rendering(Terminal(), as_json=True)[-1], structlog.processors.JSONRenderer)
    assert isinstance(rendering(io.StringIO(), as_json=False)[-1], structlog.dev.ConsoleRenderer)


def test_a_line_in_a_pipe_is_one_json_object(logged, monkeypatch):
    written = _log_to(logged["pipe"], monkeypatch, path="/api/v1/customers")

    [line] = written.splitlines()
    assert json.loads(line)["path"] == "/api/v1/customers"


def test_a_line_at_a_terminal_is_text_whose_escapes_are_shown_not_obeyed(logged, monkeypatch):
    written = _log_to(logged["terminal"], monkeypatch, path="/api/v1/\x1b[2J\u202eevil")

    [line] = written.splitlines()
    assert not line.startswith("{")
    assert "request" in line
    assert "/api/v1/\\x1b[2J\\u202eevil" in line
    assert "\x1b[2J" not in line
    assert "\u202e" not in line


@pytest.mark.parametrize(
    ("status", "level"),
    [
        (200, logging.DEBUG),
        (201, logging.DEBUG),
        (304, logging.DEBUG),
        (400, logging.INFO),
        (404, logging.INFO),
        (429, logging.INFO),
        (500, logging.WARNING),
        (503, logging.WARNING),
    ],
)
def test_a_request_answered_is_logged_at_debug_a_refusal_at_info_a_failure_at_warning(
    status, level
):
    assert access_log_level(status) == level
