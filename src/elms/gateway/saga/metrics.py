"""Saga metrics (architecture.md §6): sagas started and how they ended, and how long they took,
counted by the gateway that drove them."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from elms.gateway.saga.state import SagaState, SagaStatus

_UNDONE = (SagaStatus.COMPENSATED, SagaStatus.TIMEOUT, SagaStatus.CANCELLED)


class SagaMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self._started = Counter(
            "saga_started_total", "Sagas started", ["saga_type"], registry=registry
        )
        self._completed = Counter(
            "saga_completed_total", "Sagas completed", ["saga_type"], registry=registry
        )
        self._compensated = Counter(
            "saga_compensated_total",
            "Sagas undone: compensated after a refusal or a failure, timed out, or cancelled",
            ["saga_type", "status"],
            registry=registry,
        )
        self._failed = Counter(
            "saga_failed_total",
            "Sagas stopped for an operator (MANUAL policy, or a compensation refused)",
            ["saga_type"],
            registry=registry,
        )
        self._duration = Histogram(
            "saga_duration_seconds",
            "From a saga's start to its end",
            ["saga_type", "status"],
            registry=registry,
            buckets=(0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
        )
        # A running average of completed sagas' durations per type, for `estimatedCompletion`.
        self.typical_seconds: dict[str, float] = {}

    def started(self, state: SagaState) -> None:
        self._started.labels(state.saga_type).inc()

    def finished(self, state: SagaState) -> None:
        kind = state.saga_type
        if state.status is SagaStatus.COMPLETED:
            self._completed.labels(kind).inc()
        elif state.status in _UNDONE:
            self._compensated.labels(kind, state.status.value).inc()
        else:
            self._failed.labels(kind).inc()
        if state.ended_at is None:
            return
        seconds = (state.ended_at - state.started_at).total_seconds()
        self._duration.labels(kind, state.status.value).observe(seconds)
        if state.status is SagaStatus.COMPLETED:
            earlier = self.typical_seconds.get(kind, seconds)
            self.typical_seconds[kind] = 0.9 * earlier + 0.1 * seconds
