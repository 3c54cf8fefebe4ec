"""Typed refusals. Code below the routes raises these; one handler renders the envelope
(api.md §1)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class FieldProblem:
    field: str
    message: str
    rejected_value: Any = None
    # The value is already cut (a refusal relayed from another service that cut it).
    truncated: bool = False


@dataclass
class DomainError(Exception):
    """A refusal with its HTTP status, machine-readable code and the fields at fault."""

    message: str
    code: str = "CONFLICT"
    status: int = 409
    details: list[FieldProblem] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)  # e.g. Retry-After on a 429

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


def not_found(what: str, identifier: object) -> DomainError:
    return DomainError(f"{what} {identifier} not found", code="NOT_FOUND", status=404)


def conflict(message: str, code: str = "CONFLICT", field_name: str | None = None) -> DomainError:
    details = [FieldProblem(field_name, message)] if field_name else []
    return DomainError(message, code=code, status=409, details=details)


def business_rule(message: str, code: str, **extra: Any) -> DomainError:
    """422: the request was understood and valid, and a business rule refused it."""
    return DomainError(message, code=code, status=422, extra=extra)


def invalid(field_name: str, message: str, rejected_value: Any = None) -> DomainError:
    """400 for a problem found past the schema (a rule over several fields, a header)."""
    return DomainError(
        message,
        code="VALIDATION_ERROR",
        status=400,
        details=[FieldProblem(field_name, message, rejected_value)],
    )
