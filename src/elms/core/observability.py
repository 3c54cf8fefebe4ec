"""Structured logs and Prometheus metrics."""

from __future__ import annotations

import logging
import sys
from typing import TextIO

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from structlog.typing import Processor

from elms.core.context import request_id_var, saga_id_var


def _add_request_id(_: object, __: str, event: dict) -> dict:
    request_id = request_id_var.get()
    if request_id and "request_id" not in event:
        event["request_id"] = request_id
    saga_id = saga_id_var.get()
    if saga_id and "saga_id" not in event:
        event["saga_id"] = saga_id
    return event


def _printable(text: str) -> str:
    if text.isprintable():
        return text
    return "".join(
        c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text
    )


def _escape_unprintable(_: object, __: str, event: dict) -> dict:
    """A value a client chose (a path, a field) is shown, never obeyed: an ESC or a bidi override
    in it is written as `\\x1b` or `\\u202e` rather than acted on by the terminal. JSON
    escapes them itself."""
    return {k: _printable(v) if isinstance(v, str) else v for k, v in event.items()}


def rendering(stream: TextIO, as_json: bool | None = None) -> list[Processor]:
    """The last processors of a log line: JSON for a machine (a file, a pipe, a collector); one
    readable line for a person at a terminal. `as_json` None decides by whether `stream` is a
    terminal."""
    if as_json is None:
        as_json = not stream.isatty()
    if as_json:
        return [structlog.processors.format_exc_info, structlog.processors.JSONRenderer()]
    return [_escape_unprintable, structlog.dev.ConsoleRenderer(colors=stream.isatty())]


def configure_logging(level: str = "INFO", as_json: bool | None = None) -> None:
    """Logs on stderr, each with the request id and saga id when there are ones, as
    `rendering` chooses; the standard library's loggers (uvicorn, asyncpg) are rendered the
    same way."""
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        _add_request_id,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                *rendering(sys.stderr, as_json),
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Each outgoing request at INFO is noise next to our own request log.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=True,
    )


class Metrics:
    """One registry per application, so several services can share a test process."""

    def __init__(self, service: str) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "http_requests_total",
            "HTTP requests handled",
            ["service", "method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "HTTP request latency",
            ["service", "method", "route"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.pool = Gauge(
            "db_pool_connections",
            "Database pool connections by state",
            ["service", "state"],
            registry=self.registry,
        )
        self.outbox = Gauge(
            "outbox_events",
            "Outbox events of this service by delivery status (FAILED ones need an operator)",
            ["service", "status"],
            registry=self.registry,
        )
        self.service = service
