"""How the saga routes answer (api.md §5), for the OpenAPI document: the shapes views.py
writes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from elms.core.schemas import CamelModel
from elms.gateway.saga.state import Policy, Reason, SagaStatus


class PlannedStep(CamelModel):
    step_name: str
    # The step's record (STARTED, COMPLETED, FAILED), or PENDING before it is called.
    status: str


class SagaAcceptedOut(CamelModel):
    """202: the saga runs on; follow it at `trackingUrl`."""

    saga_id: str
    saga_type: str
    status: SagaStatus
    current_step: str | None
    estimated_completion: datetime
    steps: list[PlannedStep]
    tracking_url: str


class StepRecordOut(CamelModel):
    step_name: str
    status: str
    start_time: datetime
    end_time: datetime | None
    duration: int | None  # milliseconds
    attempts: int
    result: Any
    error: dict[str, Any] | None
    # The step was called and its outcome could not be known (the saga made sure of it later).
    uncertain: bool
    in_flight: bool


class SagaSummaryOut(CamelModel):
    saga_id: str
    saga_type: str
    status: SagaStatus
    current_step: str | None
    start_time: datetime
    end_time: datetime | None
    duration: int | None  # milliseconds
    started_by: dict[str, Any] | None
    error_code: str | None


class SagaStateOut(SagaSummaryOut):
    """`GET /api/v1/saga/states/{sagaId}`: every step taken and undone, and how it ended."""

    timeout_at: datetime
    retry_count: int
    max_retries: int
    compensation_policy: Policy
    compensation_reason: Reason | None
    completed_steps: list[StepRecordOut]
    compensations: list[StepRecordOut]
    # What the saga made (the loan, the payment) once it COMPLETED.
    final_result: dict[str, Any] | None
    error: dict[str, Any] | None
    tracking_url: str
