"""Prometheus metrics of the reference app, in a registry owned by the app instance.

No process-global registry: two apps in one process (tests, the benchmark) do
not collide. HTTP figures are counted by the middleware; everything else
(pool, breaker, tasks, errors, memory) is read from the live stats at scrape
time by ``StatsCollector``, so ``/metrics`` and ``/api/monitoring/stats`` can
never disagree.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Callable, Iterator
from itertools import accumulate
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

__all__ = ["BUCKETS", "CONTENT_TYPE", "HttpMetrics", "StatsCollector"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_BREAKER_STATES = {"closed": 0, "half_open": 1, "open": 2}
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class HttpMetrics:
    """Request counts by method, route template and status, and latency by route.

    Counted in plain dicts on the event loop and turned into Prometheus families only
    when ``/metrics`` is scraped (``_HttpCollector``): a prometheus-client child's
    ``inc()``/``observe()`` takes a lock and walks the buckets in Python on every
    request. Methods outside the standard set are counted as ``OTHER`` so a client
    cannot grow the label space.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.total = 0
        self.by_status: dict[int, int] = {}
        self.counts: dict[tuple[str, str, int], int] = {}
        #: per route: one count per bucket of ``BUCKETS`` and one for +Inf, then the sum
        self.latency: dict[str, list[float]] = {}
        self.registry.register(_HttpCollector(self))

    def observe(self, method: str, route: str, status: int, elapsed_s: float) -> None:
        """Count one request."""
        if method not in _METHODS:
            method = "OTHER"
        key = (method, route, status)
        self.counts[key] = self.counts.get(key, 0) + 1
        histogram = self.latency.get(route)
        if histogram is None:
            histogram = self.latency[route] = [0.0] * (len(BUCKETS) + 2)
        histogram[bisect_left(BUCKETS, elapsed_s)] += 1  # le: a value on a bound counts in it
        histogram[-1] += elapsed_s
        self.total += 1
        self.by_status[status] = self.by_status.get(status, 0) + 1

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _HttpCollector(Collector):
    """``HttpMetrics`` as ``http_requests_total`` and ``http_request_duration_seconds``."""

    def __init__(self, metrics: HttpMetrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily("http_requests", "HTTP requests served",
                                       labels=["method", "route", "status"])
        for (method, route, status), count in sorted(self._metrics.counts.items()):
            requests.add_metric([method, route, str(status)], count)
        yield requests
        latency = HistogramMetricFamily("http_request_duration_seconds", "HTTP request latency",
                                        labels=["route"])
        for route, histogram in sorted(self._metrics.latency.items()):
            cumulative = list(accumulate(histogram[:-1]))
            buckets = [(floatToGoString(bound), count)
                       for bound, count in zip((*BUCKETS, math.inf), cumulative, strict=True)]
            latency.add_metric([route], buckets, sum_value=histogram[-1])
        yield latency


def _flat_numbers(prefix: str, data: Any) -> Iterator[tuple[str, float]]:
    """Numeric leaves of a nested dict as (underscore_joined_name, value)."""
    if isinstance(data, bool):
        yield prefix, float(data)
    elif isinstance(data, int | float):
        yield prefix, float(data)
    elif isinstance(data, dict):
        for key, value in data.items():
            name = f"{prefix}_{key}" if prefix else str(key)
            yield from _flat_numbers("".join(c if c.isalnum() else "_" for c in name), value)


class StatsCollector(Collector):
    """Exports the numeric parts of the app's stats as gauges at scrape time."""

    def __init__(self, stats: Callable[[], dict[str, Any]]) -> None:
        self._stats = stats

    def collect(self) -> Iterator[Metric]:
        stats = self._stats()
        for section in ("pool", "tasks", "memory", "gate", "health_monitor"):
            for name, value in _flat_numbers(section, stats.get(section) or {}):
                yield GaugeMetricFamily(f"app_{name}", f"{section} figure {name}", value=value)
        yield GaugeMetricFamily("app_errors_unhandled", "unhandled errors recorded",
                                value=float(stats.get("errors_unhandled", 0)))
        breaker = GaugeMetricFamily("app_breaker_state", "0 closed, 1 half_open, 2 open",
                                    labels=["name"])
        for name, snap in (stats.get("breakers") or {}).items():
            breaker.add_metric([name], float(_BREAKER_STATES.get(str(snap.get("state")), -1)))
        yield breaker
        yield GaugeMetricFamily("app_ready", "1 when /health/ready is 200",
                                value=float(bool(stats.get("ready"))))
