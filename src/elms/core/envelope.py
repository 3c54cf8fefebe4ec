"""The response envelope of api.md §1, rendered with exact decimals."""

from __future__ import annotations

import time
from datetime import date, datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from elms.core import business_day, jsoncodec
from elms.core.clock import iso_utc, utcnow
from elms.core.context import request_id_var, request_started_var
from elms.core.errors import DomainError, FieldProblem

API_VERSION = "v1"
T = TypeVar("T")

# --- the envelope as the OpenAPI document describes it -------------------------------------
# Responses are rendered from plain dicts below (exact decimals, one encoder); these models
# state the same shapes for the document.


class Metadata(BaseModel):
    request_id: str | None = Field(alias="requestId")
    processing_time: str = Field(alias="processingTime", examples=["12ms"])
    version: str = Field(examples=[API_VERSION])
    business_date: date = Field(
        alias="businessDate", description="The system's business date when this was answered"
    )


class FieldError(BaseModel):
    """One problem with one field of the request."""

    field: str | None = Field(examples=["interestRate"])
    message: str
    rejected_value: Any = Field(default=None, alias="rejectedValue")


class Envelope(BaseModel, Generic[T]):
    """Every successful answer: the result in `data`."""

    timestamp: datetime
    status: Literal["SUCCESS"]
    message: str
    data: T
    errors: list[FieldError] = Field(max_length=0)
    metadata: Metadata


class ErrorBody(BaseModel):
    """What went wrong: a machine-readable `code`, and the fields at fault. Some refusals add
    what the client needs to act on (e.g. the saga that refused, the amount needed)."""

    model_config = ConfigDict(extra="allow")

    code: str = Field(examples=["VALIDATION_ERROR"])
    message: str
    details: list[FieldError]


class ErrorEnvelope(BaseModel):
    """Every refusal: `status` ERROR, no `data`, and an `error`."""

    timestamp: datetime
    status: Literal["ERROR"]
    message: str
    data: None
    errors: list[FieldError]
    error: ErrorBody
    metadata: Metadata


class EnvelopeResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return jsoncodec.dumps(content).encode("utf-8")


def _metadata() -> dict[str, Any]:
    started = request_started_var.get()
    elapsed = f"{round((time.perf_counter() - started) * 1000)}ms" if started else "0ms"
    return {
        "requestId": request_id_var.get(),
        "processingTime": elapsed,
        "version": API_VERSION,
        "businessDate": business_day.today().isoformat(),
    }


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


# How much of a client's own input a refusal repeats: enough to recognise it, never the whole
# of a 10 MB field (or field name) sent back. Messages are ELMS's words, some quoting the input.
ECHO_LIMIT = 100
MESSAGE_LIMIT = 500


def _cut(text: str | None, limit: int) -> str | None:
    return text if text is None or len(text) <= limit else text[:limit]


def _problem(problem: FieldProblem) -> dict[str, Any]:
    return {
        "field": _cut(problem.field, ECHO_LIMIT),
        "message": _cut(problem.message, MESSAGE_LIMIT),
    }


def _detail(problem: FieldProblem) -> dict[str, Any]:
    """A problem with the value refused: a long one (text, or a number of many digits) as the
    first ECHO_LIMIT characters of its text, said to be cut (`rejectedValueTruncated`)."""
    value = problem.rejected_value
    if problem.truncated:
        return {**_problem(problem), "rejectedValue": value, "rejectedValueTruncated": True}
    if value is not None and len(text := str(value)) > ECHO_LIMIT:
        return {
            **_problem(problem),
            "rejectedValue": text[:ECHO_LIMIT],
            "rejectedValueTruncated": True,
        }
    return {**_problem(problem), "rejectedValue": value}


def error(
    status: int,
    code: str,
    message: str,
    details: list[FieldProblem] | None = None,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> EnvelopeResponse:
    # The value refused is repeated once, in `error.details`; `errors` names the fields only.
    detail_rows = [_detail(p) for p in details or []]
    body = {
        "timestamp": iso_utc(utcnow()),
        "status": "ERROR",
        "message": message,
        "data": None,
        "errors": [_problem(p) for p in details or []],
        "error": {"code": code, "message": message, "details": detail_rows, **(extra or {})},
        "metadata": _metadata(),
    }
    return EnvelopeResponse(body, status_code=status, headers=headers)


def domain_error(exc: DomainError) -> EnvelopeResponse:
    return error(exc.status, exc.code, exc.message, exc.details, exc.extra, exc.headers or None)
