"""Latencies per operation, and what a run reports of them."""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass
class Timings:
    """Seconds each call of each operation took, and the calls that failed."""

    seconds: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)

    def took(self, operation: str, seconds: float) -> None:
        self.seconds.setdefault(operation, []).append(seconds)

    def failed(self, operation: str, why: str) -> None:
        self.errors.setdefault(operation, []).append(why)

    @property
    def error_count(self) -> int:
        return sum(map(len, self.errors.values()))


def percentile(samples: list[float], share: float) -> float:
    """Nearest-rank percentile: the smallest sample at or above `share` of them."""
    ordered = sorted(samples)
    return ordered[max(math.ceil(share * len(ordered)) - 1, 0)]


def summary(timings: Timings, elapsed: float) -> dict[str, dict[str, float]]:
    return {
        operation: {
            "count": len(samples),
            "perSecond": round(len(samples) / elapsed, 1),
            "p50ms": round(percentile(samples, 0.50) * 1000, 1),
            "p95ms": round(percentile(samples, 0.95) * 1000, 1),
            "p99ms": round(percentile(samples, 0.99) * 1000, 1),
        }
        for operation, samples in sorted(timings.seconds.items())
    }
