"""The SLO metric catalogue: the one registry of metric names an SLO may judge.

A scenario's ``[slo.<phase>]`` tables name metrics from :data:`METRICS`; the scenario
loader validates names and phases against it (with a did-you-mean), the CLI's ``list``
and the docs iterate it, and the checkers in :mod:`harness.verify` produce exactly these
names in ``result.json`` under ``metrics[<phase>]``. Names are never renamed, only added.

An SLO's id is ``"<metric>@<phase>"`` (e.g. ``"lost_writes@run"``); a negative control's
``expect_fail`` lists such ids.

Each metric also names the evidence it is computed from (``needs``, kinds from
:data:`EVIDENCE`), and a phase may need some of its own (:data:`PHASE_NEEDS`: no fault
phase without a fault). :func:`harness.verify.measurable.unmeasurable` checks them
against a scenario, so ``chaosharness validate`` can say before a run which SLOs its
target and load cannot feed (the run would report them ``unknown``, or a vacuous 0).
Each metric belongs to one family (:data:`FAMILIES`), which names the function that
computes it: verify merges the families' outputs in registry order
(:func:`harness.verify.judge.judge_run`) and builds each SLO's evidence by its family
(:data:`harness.verify.evidence.EVIDENCE_BY_FAMILY`). Adding a metric is one entry here
plus its figure in its family's compute function; tests/verify/test_metric_registry.py
fails when a catalogued metric is not computed.
This module stays data only: the scenario loader imports it.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

__all__ = [
    "ALL_PHASES",
    "EVIDENCE",
    "FAMILIES",
    "METRICS",
    "PHASE_KINDS",
    "PHASE_NEEDS",
    "Evidence",
    "MetricFamily",
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
class Evidence:
    """One kind of evidence a metric is computed from.

    ``what`` is how a warning names it (``needs <what> (<why it is missing>)``);
    ``source`` is where it comes from: the scenario keys that provide it and the run
    directory files it ends up in.
    """

    what: str
    source: str


#: Every evidence kind a metric or phase may need, documented once.
EVIDENCE: dict[str, Evidence] = {
    "requests": Evidence(
        "the load's requests",
        "requests.csv, written by the load generator; every scenario has a load"),
    "probe": Evidence(
        "a liveness or readiness probe",
        "[target] health_path / ready_path -> samples.jsonl live / ready"),
    "ready_probe": Evidence(
        "a readiness probe",
        "[target] ready_path -> samples.jsonl ready (the first ready sample after a start)"),
    "stats": Evidence(
        "a stats endpoint",
        "[target] stats_path -> samples.jsonl breaker, pool, tasks, app_errors_unhandled, "
        "memory_warnings"),
    "process": Evidence(
        "a process the harness started",
        '[target] kind = "reference" or "command" -> samples.jsonl app_proc (pid, RSS), '
        "run.json app.exits, restarts"),
    "log": Evidence(
        "the output of a process the harness started",
        '[target] kind = "reference" or "command" -> logs/app*.log, samples.jsonl '
        "stderr_unhandled"),
    "tracemalloc": Evidence(
        "tracemalloc diffs",
        '[target] kind = "reference" with chaos_hooks = true, [observe] tracemalloc = true, '
        "and at least 2 diffs ([observe] memory_every) after warm-up -> memory/diff-*.json"),
    "rss_trend_span": Evidence(
        "a long enough RSS series after warm-up",
        "duration - warmup + cooldown of at least harness.verify.memory.MIN_TREND_SPAN_S "
        "(shorter: the slope cannot tell a leak from warm-up)"),
    "writes": Evidence(
        "writes in the load",
        "[load] mix with post_message > 0 (the reference API), or a [[load.request]] with "
        "write_key -> requests.csv keys, final_read.json; a [target] locustfile is trusted"),
    "fault": Evidence(
        "a fault",
        "[[fault]] entries -> timeline.jsonl apply"),
    "removed_fault": Evidence(
        "a fault removed while the load runs",
        "a [[fault]] with `for` ending before the load does, or an instant action "
        "(app.kill, postgres.restart, ...) -> timeline.jsonl remove"),
    "pg_connections": Evidence(
        "the service's Postgres connections counted through the proxy",
        "a target the harness started (its DSN points at the proxy) and a proxy whose "
        "process the harness runs ([proxy] without url; by URL only the reference app's "
        "application_name is counted) -> samples.jsonl pg_connections.app"),
    "leak_allowance": Evidence(
        "a connection allowance",
        "the pool's max from the stats endpoint, else the steady part between warm-up "
        "and the first fault -> samples.jsonl pool.max / pg_connections.app"),
    "after_load": Evidence(
        "samples after the load stops",
        "cooldown of at least one [observe] tick -> samples.jsonl after load_stop"),
    "warmup": Evidence(
        "a warm-up",
        "warmup > 0 -> the warmup phase"),
}

#: Evidence a phase needs whatever the metric: the phase exists only with it.
PHASE_NEEDS: dict[str, frozenset[str]] = {
    "warmup": frozenset({"warmup"}),
    "fault": frozenset({"fault"}),
    "recovery": frozenset({"removed_fault"}),
}


@dataclass(frozen=True)
class MetricSpec:
    """One metric an SLO may judge.

    ``unit`` is what the number means (``fraction`` values are 0..1, and their thresholds
    may be written as percentages, ``">= 99.9%"``); ``phases`` are the phase kinds the
    metric is computed for, so ``[slo.steady] lost_writes`` is rejected at load time;
    ``needs`` are the :data:`EVIDENCE` kinds it is computed from.
    """

    name: str
    unit: str
    description: str
    phases: frozenset[str]
    needs: frozenset[str]
    #: The :data:`FAMILIES` entry whose compute function produces it.
    family: str


@dataclass(frozen=True)
class MetricFamily:
    """Metrics computed together by one function (named here by its dotted path, so this
    module stays data only): ``compute`` returns them by phase kind, and the SLO evidence
    of the family's metrics is built by :mod:`harness.verify.evidence` for ``name``."""

    name: str
    compute: str
    description: str


#: The metric families, in the order verify merges them into result.json's ``metrics``.
FAMILIES: dict[str, MetricFamily] = {f.name: f for f in (
    MetricFamily("requests", "harness.verify.availability.request_metrics",
                 "requests.csv split into phases: availability, latency, throughput"),
    MetricFamily("faults", "harness.verify.judge.fault_metrics",
                 "timeline.jsonl + requests.csv + samples.jsonl: recovery and detection"),
    MetricFamily("memory", "harness.verify.memory.memory_report",
                 "samples.jsonl + memory/diff-*.json: RSS trend, peak, growing sites"),
    MetricFamily("process", "harness.verify.process.process_metrics",
                 "samples.jsonl + run.json + timeline.jsonl + logs: the app as a process"),
    MetricFamily("writes", "harness.verify.writes.write_metrics",
                 "requests.csv + final_read.json: write accounting"),
)}



def _spec(
    family: str, name: str, unit: str, description: str, phases: frozenset[str],
    needs: frozenset[str],
) -> MetricSpec:
    return MetricSpec(name=name, unit=unit, description=description, phases=phases,
                      needs=needs, family=family)


def _n(*kinds: str) -> frozenset[str]:
    return frozenset(kinds)


_REQUESTS = _n("requests")
_STATS = _n("stats")
_PROCESS = _n("process")
_WRITES = _n("requests", "writes")


_SPECS: tuple[MetricSpec, ...] = (
    # --- requests (requests.csv) ---
    _spec("requests", "availability", "fraction", "ok requests / all requests", ALL_PHASES,
          _REQUESTS),
    _spec("requests", "error_rate", "fraction", "failed requests / all requests", ALL_PHASES,
          _REQUESTS),
    _spec("requests", "requests", "count", "requests started in the phase", ALL_PHASES,
          _REQUESTS),
    _spec("requests", "throughput_rps", "rps", "requests started per second of the phase",
          ALL_PHASES, _REQUESTS),
    _spec("requests", "p50_latency_ms", "ms", "exact median latency of all requests",
          ALL_PHASES, _REQUESTS),
    _spec("requests", "p95_latency_ms", "ms", "exact 95th percentile latency", ALL_PHASES,
          _REQUESTS),
    _spec("requests", "p99_latency_ms", "ms", "exact 99th percentile latency", ALL_PHASES,
          _REQUESTS),
    _spec("requests", "p999_latency_ms", "ms", "exact 99.9th percentile latency", ALL_PHASES,
          _REQUESTS),
    _spec("requests", "max_latency_ms", "ms", "slowest request", ALL_PHASES, _REQUESTS),
    _spec(
        "requests", "connection_errors_per_minute", "per_minute",
        "requests that failed with a connection error, per minute", ALL_PHASES, _REQUESTS,
    ),
    # --- faults (timeline.jsonl + requests.csv + samples.jsonl) ---
    _spec(
        "faults", "recovery_seconds", "s",
        "worst time from a fault's removal (or Postgres ready) to sustained success",
        frozenset({"recovery", "run"}), _n("requests", "removed_fault"),
    ),
    # readiness 503 or breaker open when the target shows them, else the first failed
    # request after the fault: probes sharpen it but are not needed
    _spec(
        "faults", "detect_seconds", "s",
        "worst time from a fault's application to readiness 503 or breaker open",
        frozenset({"fault", "run"}), _n("requests", "fault"),
    ),
    # --- write accounting (requests.csv + final_read.json) ---
    _spec("writes", "lost_writes", "count", "acknowledged keys absent from the final read",
          _RUN, _WRITES),
    _spec("writes", "duplicated_writes", "count",
          "keys with more than one row in the final read", _RUN, _WRITES),
    _spec("writes", "unexpected_writes", "count", "keys read back that were never attempted",
          _RUN, _WRITES),
    _spec("writes", "phantom_writes", "count", "keys read back that definitely failed (4xx)",
          _RUN, _WRITES),
    _spec(
        "writes", "recovered_writes", "count",
        "unacknowledged keys of unknown outcome that landed (reported, not a failure)", _RUN,
        _WRITES,
    ),
    # --- memory (samples.jsonl + memory/diff-*.json) ---
    _spec(
        "memory", "memory_growth_mb_per_hour", "MB/h",
        "Theil-Sen slope of the app's RSS after warm-up", _NOT_WARMUP,
        _n("process", "rss_trend_span"),
    ),
    _spec("memory", "peak_rss_mb", "MB", "largest sampled RSS of the app", ALL_PHASES,
          _PROCESS),
    _spec(
        "memory", "memory_leak_sites", "count",
        "tracemalloc sites growing in 3 consecutive diffs, by a fifth of the RSS threshold "
        "per hour or more", _RUN, _n("tracemalloc"),
    ),
    # --- the process (samples.jsonl + run.json + logs) ---
    _spec(
        "process", "memory_warnings_per_hour", "per_hour",
        "the app's memory monitor warnings per hour", ALL_PHASES, _STATS,
    ),
    _spec("process", "unhandled_errors", "count", "the app's own count of unhandled errors",
          ALL_PHASES, _STATS),
    _spec(
        "process", "stderr_unhandled_errors", "count",
        "unhandled errors the harness counted in the app's stderr", ALL_PHASES, _n("log"),
    ),
    _spec(
        "process", "connection_leaks", "count",
        "the app's Postgres connections (via the proxy) left after the cooldown above its "
        "pool max (else its pre-fault steady peak)", _RUN,
        _n("pg_connections", "leak_allowance", "after_load"),
    ),
    _spec(
        "process", "pool_saturation", "fraction",
        "samples whose pool had every connection in use and waiters", ALL_PHASES, _STATS,
    ),
    _spec(
        "process", "task_queue_overflow", "count",
        "samples whose task queue held more than its bound", ALL_PHASES, _STATS,
    ),
    # every process the harness started is SIGTERM'd at teardown: a shutdown to check
    _spec("process", "shutdown_5xx", "count",
          "5xx responses during a graceful (SIGTERM) shutdown", _RUN, _n("requests", "process")),
    _spec(
        "process", "shutdown_exit_code", "exit_code",
        "worst exit code of a SIGTERM'd app (0 when every one exited cleanly)", _RUN, _PROCESS,
    ),
    _spec(
        "process", "startup_seconds", "s",
        "time from Postgres ready (or run start) to the app's first ready sample", _RUN,
        _n("process", "ready_probe"),
    ),
    _spec("process", "uptime", "fraction", "samples with readiness 200 / samples", ALL_PHASES,
          _n("probe")),
    _spec(
        "process", "schema_errors", "count",
        "undefined column/table errors (42703, 42P01) in the app's logs", _RUN, _n("log"),
    ),
    _spec("process", "crashes", "count", "app exits the scenario did not cause", ALL_PHASES,
          _PROCESS),
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
