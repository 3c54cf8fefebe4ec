"""The response envelope of api.md §1, rendered with exact decimals."""

from __future__ import annotations

import time
from typing import Any

from starlette.responses import Response

from elms.core import jsoncodec
from elms.core.clock import iso_utc, utcnow
from elms.core.context import request_id_var, request_started_var
from elms.core.errors import DomainError, FieldProblem

API_VERSION = "v1"


class EnvelopeResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return jsoncodec.dumps(content).encode("utf-8")


def _metadata() -> dict[str, Any]:
    started = request_started_var.get()
    elapsed = f"{round((time.perf_counter() - started) * 1000)}ms" if started else "0ms"
    return {"requestId": request_id_var.get(), "processingTime": elapsed, "version": API_VERSION}


def success_body(data: Any, message: str) -> dict[str, Any]:
    return {
        "timestamp": iso_utc(utcnow()),
        "status": "SUCCESS",
        "message": message,
        "data": data,
        "errors": [],
        "metadata": _metadata(),
    }


def success(
    data: Any, message: str = "OK", status: int = 200, headers: dict[str, str] | None = None
) -> EnvelopeResponse:
    return EnvelopeResponse(success_body(data, message), status_code=status, headers=headers)


def _detail(problem: FieldProblem) -> dict[str, Any]:
    return {
        "field": problem.field,
        "message": problem.message,
        "rejectedValue": problem.rejected_value,
    }


def error(
    status: int,
    code: str,
    message: str,
    details: list[FieldProblem] | None = None,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> EnvelopeResponse:
    detail_rows = [_detail(p) for p in details or []]
    body = {
        "timestamp": iso_utc(utcnow()),
        "status": "ERROR",
        "message": message,
        "data": None,
        "errors": detail_rows,
        "error": {"code": code, "message": message, "details": detail_rows, **(extra or {})},
        "metadata": _metadata(),
    }
    return EnvelopeResponse(body, status_code=status, headers=headers)


def domain_error(exc: DomainError) -> EnvelopeResponse:
    return error(exc.status, exc.code, exc.message, exc.details, exc.extra, exc.headers or None)
