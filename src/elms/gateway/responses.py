"""How the gateway's own routes answer (logout, circuit breakers), for the OpenAPI document."""

from __future__ import annotations

from datetime import datetime

from elms.core.schemas import CamelModel
from elms.gateway.breaker import BreakerStatus


class LogoutOut(CamelModel):
    # False for a token with no session (an identity provider's): nothing to end.
    session_ended: bool


class BreakerConfigurationOut(CamelModel):
    failure_threshold: float
    open_seconds: float
    half_open_probes: float


class BreakerMetricsOut(CamelModel):
    """This gateway's counts since it started, and the HALF_OPEN round's probes (shared)."""

    calls: int
    failures: int
    rejected: int
    half_open_probes: int
    half_open_probes_passed: int


class BreakerOut(CamelModel):
    name: str
    state: BreakerStatus
    failure_count: int
    last_failure_time: datetime | None
    last_success_time: datetime | None
    next_attempt_time: datetime | None
    state_changed_at: datetime | None
    configuration: BreakerConfigurationOut
    metrics: BreakerMetricsOut
