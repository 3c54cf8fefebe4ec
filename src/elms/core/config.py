"""Settings, read once from the environment (prefix ``ELMS_``) and passed down from there."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


@dataclass(frozen=True)
class ServiceSpec:
    """What the platform knows of one service: where it listens, its schema, its pool."""

    name: str
    port: int
    schema: str
    role: str
    pool_max: int
    pool_min: int


# Ports, schemas and pool sizes of database-schema.md; the order is the start order of `elms up`.
SERVICES: dict[str, ServiceSpec] = {
    spec.name: spec
    for spec in (
        ServiceSpec("customer", 8081, "customer_db", "elms_customer", 20, 5),
        ServiceSpec("loan", 8082, "loan_db", "elms_loan", 25, 8),
        ServiceSpec("payment", 8083, "payment_db", "elms_payment", 30, 10),
        ServiceSpec("gateway", 8080, "banking_gateway", "elms_gateway", 15, 3),
    )
}


# The settings loan products replaced (docs/products.md).
REMOVED_SETTINGS = (
    "ELMS_LOAN_MIN_INTEREST_RATE",
    "ELMS_LOAN_MAX_INTEREST_RATE",
    "ELMS_UNDERWRITING_MIN_CREDIT_SCORE",
    "ELMS_UNDERWRITING_MAX_INSTALLMENT_TO_INCOME",
    "ELMS_PAYMENT_DISCOUNT_RATE_PER_DAY",
    "ELMS_PAYMENT_PENALTY_RATE_PER_DAY",
    "ELMS_PAYMENT_GRACE_PERIOD_DAYS",
    "ELMS_PAYMENT_PENALTY_CAP_SHARE",
    "ELMS_PAYMENT_PROCESSING_FEES",
)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ELMS_", extra="ignore")

    data_dir: Path = Field(default_factory=lambda: Path(platformdirs.user_data_dir("elms")))
    # An administrator's URL of one cluster for all four schemas; ELMS creates the service roles.
    database_url: str | None = None
    # A service's own URL (its role, its cluster); takes precedence over database_url.
    customer_database_url: str | None = None
    loan_database_url: str | None = None
    payment_database_url: str | None = None
    gateway_database_url: str | None = None
    # Secret from which the service roles' passwords are derived; kept in data_dir when unset.
    db_role_secret: str | None = None

    host: str = "127.0.0.1"
    customer_port: int = 8081
    loan_port: int = 8082
    payment_port: int = 8083
    gateway_port: int = 8080

    # Where each service is reached by the others; unset, its host and port on this machine.
    customer_url: str | None = None
    loan_url: str | None = None
    payment_url: str | None = None
    gateway_url: str | None = None
    service_call_timeout_seconds: float = 10
    # The credential services demand of each other (elms.core.internal_auth); derived when unset.
    service_token: str | None = None
    # A bearer token that opens /actuator/prometheus and nothing else, for a metrics scraper
    # (elms.core.internal_auth); unset, only the internal credential reads metrics.
    metrics_token: str | None = Field(default=None, min_length=16)
    # Set by `elms up` on each service it starts and shown in the detailed health, so that its
    # readiness probe knows its own processes from another ELMS answering on the same port.
    instance_id: str | None = None

    # Gateway edge (architecture.md §5): requests per client IP, shared through Redis when set.
    rate_limit: str = "1000/minute"
    # Proxies in front of the gateway (comma-separated CIDRs) whose X-Forwarded-For is believed;
    # none by default: the client is the socket's peer.
    trusted_proxies: str = ""
    redis_url: str | None = None
    rate_limit_namespace: str = "elms"
    audit_flush_interval_seconds: float = 0.5
    # Circuit breakers per upstream: consecutive failures to open, seconds before a probe.
    breaker_failure_threshold: int = 5
    breaker_open_seconds: float = 30
    breaker_half_open_probes: int = 3  # calls a HALF_OPEN breaker admits to decide
    breaker_refresh_interval_seconds: float = 1
    # Tokens (api.md §6): RS256 with the local key made in data_dir, unless an identity
    # provider's public key (PEM) or JWKS URL is configured.
    jwt_issuer: str = "loan-management-system"
    jwt_audience: str = "api-gateway"
    jwt_algorithm: str = "RS256"
    jwt_public_key: str | None = None
    jwt_jwks_url: str | None = None
    max_request_bytes: int = 11 * 1024 * 1024

    log_level: str = "INFO"
    # JSON lines; unset, JSON unless stderr is a terminal, where a person reads lines instead.
    log_json: bool | None = None

    pool_idle_timeout_seconds: float = 300
    pool_max_lifetime_seconds: float = 1800
    pool_acquire_timeout_seconds: float = 20
    pool_leak_detection_seconds: float = 60
    statement_timeout_seconds: float = 30

    # A week: longer than any saga's timeout (at most a day) and its recovery, so a step a saga
    # runs again always finds the answer its first attempt stored.
    idempotency_ttl_hours: int = 168
    reservation_expiry_interval_seconds: float = 30
    housekeeping_interval_seconds: float = 3600
    outbox_interval_seconds: float = 1
    # The relay also wakes the moment a transaction commits an event (LISTEN/NOTIFY), so an
    # approval reaches the customer service in milliseconds; the interval is the fallback.
    outbox_listen: bool = True
    outbox_backoff_seconds: float = 2

    # The business day (docs/business-day.md): `calendar`, the UTC date, each day closed by
    # itself soon after it ends; `manual`, moved forward only by an administrator (tests, demos,
    # books brought over from another system). Close of business looks for work this often,
    # in loans per transaction; a loan more than `non_performing_days` past due is non-performing.
    business_date_mode: Literal["calendar", "manual"] = "calendar"
    cob_interval_seconds: float = 60
    cob_batch_size: int = Field(default=1000, ge=1, le=100_000)
    non_performing_days: int = Field(default=90, ge=1)

    # The rates, ranges, underwriting thresholds and payment terms a loan is made under are its
    # product's (loan products, docs/products.md), not settings. What stays global: the largest
    # document, and how far ahead installments may be paid (api.md §4 rule 1).
    documents_max_bytes: int = 10 * 1024 * 1024
    payment_horizon_months: int = 3

    # Sagas (architecture.md §4, gateway): how long a POST waits for its saga before answering
    # 202, a saga's default timeout, step retries and their backoff, the heartbeat of a running
    # saga and when a silent one counts as abandoned, how often recovery looks for those, and how
    # long a loan application's credit reservation is held (until approval consumes it).
    saga_sync_wait_seconds: float = 10
    saga_timeout_seconds: int = 300
    saga_max_retries: int = Field(default=3, ge=0, le=20)
    saga_retry_backoff_seconds: float = 0.5
    saga_heartbeat_seconds: float = 5
    saga_stale_after_seconds: float = 30
    saga_recovery_interval_seconds: float = 5
    saga_recovery_batch: int = 20
    saga_reservation_timeout_seconds: int = Field(default=86400, ge=1, le=86400)

    @model_validator(mode="after")
    def _no_loan_terms(self) -> Settings:
        # These held the terms of every loan before loan products. Ignoring one that is set would
        # silently change the terms a deployment charges: the operator moves it into a product.
        found = sorted(name for name in REMOVED_SETTINGS if name in os.environ)
        if found:
            raise ValueError(
                f"{', '.join(found)}: loan terms are no longer settings but loan products'"
                " (docs/products.md); set them on the products and unset these"
            )
        return self

    @model_validator(mode="after")
    def _heartbeat_within_staleness(self) -> Settings:
        # A live saga must beat at least twice before it could be taken for abandoned.
        if self.saga_heartbeat_seconds * 2 > self.saga_stale_after_seconds:
            raise ValueError("saga_heartbeat_seconds must be at most half saga_stale_after_seconds")
        return self

    def port_of(self, service: str) -> int:
        return int(getattr(self, f"{service}_port"))

    def own_database_url(self, service: str) -> str | None:
        return getattr(self, f"{service}_database_url")

    def service_urls(self) -> dict[str, str]:
        return {
            name: getattr(self, f"{name}_url") or f"http://{self.host}:{self.port_of(name)}"
            for name in SERVICES
        }
