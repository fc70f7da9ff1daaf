"""The SLO metric catalogue: the one registry of metric names an SLO may judge.

A scenario's ``[slo.<phase>]`` tables name metrics from :data:`METRICS`; the scenario
loader validates names and phases against it (with a did-you-mean), the CLI's ``list``
and the docs iterate it, and the checkers in :mod:`harness.verify` produce exactly these
names in ``result.json`` under ``metrics[<phase>]``. Names are never renamed, only added.

An SLO's id is ``"<metric>@<phase>"`` (e.g. ``"lost_writes@run"``); a negative control's
``expect_fail`` lists such ids.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

__all__ = [
    "ALL_PHASES",
    "METRICS",
    "PHASE_KINDS",
    "MetricSpec",
    "did_you_mean",
    "slo_id",
    "split_slo_id",
]

#: Phase kinds a metric can be reported for; ``run`` is the whole run after warm-up start.
PHASE_KINDS: tuple[str, ...] = ("warmup", "steady", "fault", "recovery", "run")
ALL_PHASES: frozenset[str] = frozenset(PHASE_KINDS)
_RUN: frozenset[str] = frozenset({"run"})
_NOT_WARMUP: frozenset[str] = frozenset({"steady", "fault", "recovery", "run"})


@dataclass(frozen=True)
class MetricSpec:
    """One metric an SLO may judge.

    ``unit`` is what the number means (``fraction`` values are 0..1, and their thresholds
    may be written as percentages, ``">= 99.9%"``); ``phases`` are the phase kinds the
    metric is computed for, so ``[slo.steady] lost_writes`` is rejected at load time.
    """

    name: str
    unit: str
    description: str
    phases: frozenset[str]


def _spec(name: str, unit: str, description: str, phases: frozenset[str]) -> MetricSpec:
    return MetricSpec(name=name, unit=unit, description=description, phases=phases)


_SPECS: tuple[MetricSpec, ...] = (
    # --- requests (requests.csv) ---
    _spec("availability", "fraction", "ok requests / all requests", ALL_PHASES),
    _spec("error_rate", "fraction", "failed requests / all requests", ALL_PHASES),
    _spec("requests", "count", "requests started in the phase", ALL_PHASES),
    _spec("throughput_rps", "rps", "requests started per second of the phase", ALL_PHASES),
    _spec("p50_latency_ms", "ms", "exact median latency of all requests", ALL_PHASES),
    _spec("p95_latency_ms", "ms", "exact 95th percentile latency", ALL_PHASES),
    _spec("p99_latency_ms", "ms", "exact 99th percentile latency", ALL_PHASES),
    _spec("p999_latency_ms", "ms", "exact 99.9th percentile latency", ALL_PHASES),
    _spec("max_latency_ms", "ms", "slowest request", ALL_PHASES),
    _spec(
        "connection_errors_per_minute", "per_minute",
        "requests that failed with a connection error, per minute", ALL_PHASES,
    ),
    # --- faults (timeline.jsonl + requests.csv + samples.jsonl) ---
    _spec(
        "recovery_seconds", "s",
        "worst time from a fault's removal (or Postgres ready) to sustained success",
        frozenset({"recovery", "run"}),
    ),
    _spec(
        "detect_seconds", "s",
        "worst time from a fault's application to readiness 503 or breaker open",
        frozenset({"fault", "run"}),
    ),
    # --- write accounting (requests.csv + final_read.json) ---
    _spec("lost_writes", "count", "acknowledged keys absent from the final read", _RUN),
    _spec("duplicated_writes", "count", "keys with more than one row in the final read", _RUN),
    _spec("unexpected_writes", "count", "keys read back that were never attempted", _RUN),
    _spec("phantom_writes", "count", "keys read back that definitely failed (4xx)", _RUN),
    _spec(
        "recovered_writes", "count",
        "unacknowledged keys of unknown outcome that landed (reported, not a failure)", _RUN,
    ),
    # --- memory (samples.jsonl + memory/diff-*.json) ---
    _spec(
        "memory_growth_mb_per_hour", "MB/h",
        "Theil-Sen slope of the app's RSS after warm-up", _NOT_WARMUP,
    ),
    _spec("peak_rss_mb", "MB", "largest sampled RSS of the app", ALL_PHASES),
    _spec(
        "memory_leak_sites", "count",
        "tracemalloc sites growing in consecutive diffs", _RUN,
    ),
    _spec(
        "memory_warnings_per_hour", "per_hour",
        "the app's memory monitor warnings per hour", ALL_PHASES,
    ),
    # --- the process (samples.jsonl + run.json) ---
    _spec("unhandled_errors", "count", "the app's own count of unhandled errors", ALL_PHASES),
    _spec(
        "stderr_unhandled_errors", "count",
        "unhandled errors the harness counted in the app's stderr", ALL_PHASES,
    ),
    _spec(
        "connection_leaks", "count",
        "the app's Postgres connections (via the proxy) left after the cooldown above its "
        "pool max (else its pre-fault steady peak)", _RUN,
    ),
    _spec(
        "pool_saturation", "fraction",
        "samples whose pool had every connection in use and waiters", ALL_PHASES,
    ),
    _spec(
        "task_queue_overflow", "count",
        "samples whose task queue held more than its bound", ALL_PHASES,
    ),
    _spec("shutdown_5xx", "count", "5xx responses during a graceful (SIGTERM) shutdown", _RUN),
    _spec(
        "shutdown_exit_code", "exit_code",
        "worst exit code of a SIGTERM'd app (0 when every one exited cleanly)", _RUN,
    ),
    _spec(
        "startup_seconds", "s",
        "time from Postgres ready (or run start) to the app's first ready sample", _RUN,
    ),
    _spec("uptime", "fraction", "samples with readiness 200 / samples", ALL_PHASES),
    _spec(
        "schema_errors", "count",
        "undefined column/table errors (42703, 42P01) in the app's logs", _RUN,
    ),
    _spec("crashes", "count", "app exits the scenario did not cause", ALL_PHASES),
)

#: Every metric by name, in catalogue order.
METRICS: dict[str, MetricSpec] = {spec.name: spec for spec in _SPECS}


def slo_id(metric: str, phase: str) -> str:
    """The id of an SLO: ``"<metric>@<phase>"``, as ``expect_fail`` lists it."""
    return f"{metric}@{phase}"


def split_slo_id(text: str) -> tuple[str, str]:
    """Split ``"lost_writes@run"`` into ``("lost_writes", "run")``; a bare name means ``run``."""
    metric, sep, phase = text.partition("@")
    return metric.strip(), (phase.strip() if sep else "run")


def did_you_mean(name: str, choices: tuple[str, ...] | None = None) -> str | None:
    """The closest known metric name to ``name`` (or to ``choices``), or ``None``."""
    pool = list(choices if choices is not None else METRICS)
    close = difflib.get_close_matches(name, pool, n=1, cutoff=0.6)
    return close[0] if close else None
