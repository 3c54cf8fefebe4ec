"""Per-request values that logs, envelopes and outgoing calls read without passing them around."""

from __future__ import annotations

from contextvars import ContextVar

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
request_started_var: ContextVar[float | None] = ContextVar("request_started", default=None)
# The saga a call belongs to, passed to every service it calls so their logs carry it too.
saga_id_var: ContextVar[str | None] = ContextVar("saga_id", default=None)
