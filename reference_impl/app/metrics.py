"""Prometheus metrics of the reference app, in a registry owned by the app instance.

No process-global registry: two apps in one process (tests, the benchmark) do
not collide. HTTP figures are counted by the middleware; everything else
(pool, breaker, tasks, errors, memory) is read from the live stats at scrape
time by ``StatsCollector``, so ``/metrics`` and ``/api/monitoring/stats`` can
never disagree.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = ["CONTENT_TYPE", "HttpMetrics", "StatsCollector"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_BREAKER_STATES = {"closed": 0, "half_open": 1, "open": 2}
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class HttpMetrics:
    """Request counts and latency by method, route template and status."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("http_requests", "HTTP requests served",
                                ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("http_request_duration_seconds", "HTTP request latency",
                                 ["route"], buckets=_BUCKETS, registry=self.registry)
        self.total = 0
        self.by_status: dict[int, int] = {}
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def observe(self, method: str, route: str, status: int, elapsed_s: float) -> None:
        """Count one request (label children are cached: ``labels()`` is a locked lookup).

        Methods outside the standard set are counted as ``OTHER`` so a client cannot
        grow the label space.
        """
        if method not in _METHODS:
            method = "OTHER"
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            children = (self.requests.labels(method, route, str(status)),
                        self.latency.labels(route))
            self._children[key] = children
        children[0].inc()
        children[1].observe(elapsed_s)
        self.total += 1
        self.by_status[status] = self.by_status.get(status, 0) + 1

    def render(self) -> bytes:
        return generate_latest(self.registry)


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
        for section in ("pool", "tasks", "memory", "gate"):
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
