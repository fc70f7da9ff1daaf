"""Fixed-memory metrics for the database manager: a latency histogram, a recent-sample
reservoir for percentiles, and counters of errors by class.

Everything here is O(1) per observation and bounded in memory however long the
process runs (a soak test must not see the metrics themselves grow).
"""

from __future__ import annotations

import bisect
import math
from collections import Counter, deque
from typing import Any

__all__ = ["LATENCY_BUCKETS_MS", "LatencyHistogram", "QueryMetrics", "RecentSamples"]

#: Upper bounds (ms) of the query latency buckets; the last bucket is +Inf.
LATENCY_BUCKETS_MS: tuple[float, ...] = (1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500)


class LatencyHistogram:
    """Cumulative-style histogram (Prometheus ``le`` buckets) of durations in ms."""

    def __init__(self, bounds_ms: tuple[float, ...] = LATENCY_BUCKETS_MS) -> None:
        self.bounds_ms = bounds_ms
        self._counts = [0] * (len(bounds_ms) + 1)
        self.count = 0
        self.sum_ms = 0.0

    def observe(self, ms: float) -> None:
        self._counts[bisect.bisect_left(self.bounds_ms, ms)] += 1
        self.count += 1
        self.sum_ms += ms

    def buckets(self) -> dict[str, int]:
        """``{"le_1": n, ..., "le_inf": n}``, cumulative as Prometheus reports them."""
        out: dict[str, int] = {}
        running = 0
        for bound, n in zip([*self.bounds_ms, math.inf], self._counts, strict=True):
            running += n
            out["le_inf" if bound == math.inf else f"le_{bound:g}"] = running
        return out


class RecentSamples:
    """The last ``size`` observations, for p50/p99 of recent behaviour."""

    def __init__(self, size: int = 1024) -> None:
        self._values: deque[float] = deque(maxlen=size)

    def add(self, value: float) -> None:
        self._values.append(value)

    def percentile(self, q: float) -> float | None:
        """Nearest-rank percentile (``q`` in 0..100) of the recent values, ``None`` when empty."""
        if not self._values:
            return None
        ordered = sorted(self._values)
        rank = max(0, math.ceil(q / 100 * len(ordered)) - 1)
        return ordered[min(rank, len(ordered) - 1)]

    def __len__(self) -> int:
        return len(self._values)


class QueryMetrics:
    """Counters the manager keeps: latencies, outcomes, errors by class and SQLSTATE."""

    def __init__(self) -> None:
        self.latency = LatencyHistogram()
        self.recent_latency = RecentSamples()
        self.acquire_ms = RecentSamples()
        self.errors_by_class: Counter[str] = Counter()
        self.errors_by_sqlstate: Counter[str] = Counter()
        self.unavailable_by_reason: Counter[str] = Counter()
        self.queries = 0
        self.retries = 0

    def observe_query(self, ms: float) -> None:
        self.queries += 1
        self.latency.observe(ms)
        self.recent_latency.add(ms)

    def observe_error(self, error_class: str, sqlstate: str | None) -> None:
        self.errors_by_class[error_class] += 1
        if sqlstate:
            self.errors_by_sqlstate[sqlstate] += 1

    def snapshot(self) -> dict[str, Any]:
        """JSON-ready copy of every counter."""
        return {
            "queries": self.queries,
            "retries": self.retries,
            "latency_ms": {
                "buckets": self.latency.buckets(),
                "count": self.latency.count,
                "sum": round(self.latency.sum_ms, 3),
                "p50": _round(self.recent_latency.percentile(50)),
                "p99": _round(self.recent_latency.percentile(99)),
            },
            "errors_by_class": dict(self.errors_by_class),
            "errors_by_sqlstate": dict(self.errors_by_sqlstate),
            "unavailable_by_reason": dict(self.unavailable_by_reason),
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
