"""Checks on the app as a process: errors, connections, pool, task queue, shutdown, startup.

All from samples.jsonl, run.json ``app.exits``, timeline.jsonl and the app's logs:

* unhandled errors: the app's own count and the harness' independent stderr count,
  both cumulative counters summed as increments (a drop means the app restarted and
  its counter began again, so the new value is all new);
* connection leaks: the service's Postgres connections (those through the fault proxy)
  once the load stopped and the cooldown passed, above the pool's maximum (else the
  peak of the steady part before the first fault); unknown (None) when not counted;
* pool saturation: the fraction of samples whose pool had every connection in use
  with requests waiting; task queue overflow: samples whose queue exceeded its bound;
* graceful shutdown: for every SIGTERM exit, the 5xx responses to requests in flight
  between the SIGTERM and the exit, and the exit code;
* crashes: recorded exits no scenario action (or the end of the run) caused, and app
  pids that vanished or changed in the samples outside any fault that affects the app;
* startup: from each app (re)start, or Postgres back when later, to the first ready
  sample.

What a fault did (``affects``, ``link``, ``undo``) is read from its timeline lines
(:attr:`harness.records.TimelineEvent.effect`), never guessed from its name.
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from harness.errors import VerifyError
from harness.records import RecordError, RunInfo, Sample, TimelineEvent
from harness.records.run_info import AppExit
from harness.verify.availability import TimeSeries
from harness.verify.phases import PhaseIndex, run_bounds
from harness.verify.requests import RequestTable

__all__ = [
    "EXPECTED_EXIT_CAUSES",
    "LEAK_TAIL_SAMPLES",
    "connection_leaks",
    "counter_increments",
    "process_metrics",
    "schema_error_count",
    "shutdown_checks",
]

#: Exit causes that are not crashes besides the scenario's own fault actions.
EXPECTED_EXIT_CAUSES = frozenset({"run_end", "shutdown", "stop", "teardown", "restart"})
_SCHEMA_ERROR = re.compile(r"UndefinedColumnError|UndefinedTableError|\b42703\b|\b42P01\b")
#: Slack around the window of a fault that affects the app within which a pid change is
#: that fault's doing.
CRASH_SLACK_S = 5.0
#: How far before a SIGTERM a request may have started and still be in flight.
MAX_IN_FLIGHT_S = 60.0
#: How many of the last samples after load end settle the service's connection count.
LEAK_TAIL_SAMPLES = 3


def counter_increments(
    samples: Sequence[Sample], field: str, per_process: bool = False
) -> list[tuple[float, float]]:
    """(t_s, increment) of a cumulative counter. A decrease means the counter began again
    (the new value is all new); with ``per_process`` (the app's own counters) so does a
    new app pid, even when the new process already counted past the old value."""
    out: list[tuple[float, float]] = []
    prev: float | None = None
    prev_pid: object = None
    for s in samples:
        v = getattr(s, field)
        if not isinstance(v, int | float):
            continue
        pid = s.app_proc.get("pid") if per_process and s.app_proc is not None else None
        restarted = pid is not None and prev_pid is not None and pid != prev_pid
        inc = v if prev is None or v < prev or restarted else v - prev
        prev = float(v)
        prev_pid = pid if pid is not None else prev_pid
        if inc:
            out.append((s.t_s, float(inc)))
    return out


def _sum_by_kind(points: Iterable[tuple[float, float]], index: PhaseIndex) -> dict[str, float]:
    out: dict[str, float] = {k: 0.0 for k in (*index.kinds(), "run")}
    for t, v in points:
        p = index.index_of(t)
        if p >= 0:
            out[index.phases[p].kind] += v
        out["run"] += v
    return out


def _fraction_by_kind(
    samples: Sequence[Sample], index: PhaseIndex, judge: Callable[[Sample], bool | None]
) -> dict[str, float | None]:
    """Share of samples (where ``judge`` returns True/False, not None) that are True."""
    hits = _counts_by_kind(samples, index, judge)
    return {k: (h[0] / h[1] if h[1] else None) for k, h in hits.items()}


def _counts_by_kind(
    samples: Sequence[Sample], index: PhaseIndex, judge: Callable[[Sample], bool | None]
) -> dict[str, list[int]]:
    """``[true, judged]`` samples per phase kind and ``run`` (``judge`` None: not judged)."""
    hits: dict[str, list[int]] = {}
    for s in samples:
        verdict = judge(s)
        if verdict is None:
            continue
        p = index.index_of(s.t_s)
        for kind in ((index.phases[p].kind,) if p >= 0 else ()) + ("run",):
            h = hits.setdefault(kind, [0, 0])
            h[0] += int(bool(verdict))
            h[1] += 1
    return hits


def _uptime(s: Sample) -> bool | None:
    """Serving in this sample: by readiness, else liveness; a probe that timed out (a frozen
    app) is not serving; a target with neither probe has no uptime figure (None)."""
    for probe, value in (("ready", s.ready), ("live", s.live)):
        if value is not None:
            return value is True
        if probe in s.missing:
            return False
    return None


def _figure(block: dict[str, object] | None, key: str) -> float | None:
    """A number of a sample's block (``pool``, ``tasks``, ``pg_connections``), else None."""
    value = block.get(key) if block is not None else None
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) \
        else None


def _saturated(s: Sample) -> bool | None:
    in_use, most = _figure(s.pool, "in_use"), _figure(s.pool, "max")
    if in_use is None or not most:
        return None
    waiting = _figure(s.pool, "waiting")
    return bool(in_use >= most and (waiting is None or waiting > 0))


def _overflow(s: Sample) -> bool | None:
    queued, most = _figure(s.tasks, "queued"), _figure(s.tasks, "max_queue")
    if queued is None or not most:
        return None
    return bool(queued > most)


def connection_leaks(
    samples: Sequence[Sample], load_end_s: float, warm_end_s: float = 0.0,
    first_fault_s: float | None = None,
) -> dict[str, Any]:
    """The service's Postgres connections still open once the load has stopped and the
    cooldown passed, beyond what it may keep.

    The count is ``pg_connections.app`` (the backends the fault proxy opened, see
    docs/run-directory.md; ``app_by`` says how it was counted). The settled count is the
    smallest of the last :data:`LEAK_TAIL_SAMPLES` figures after ``load_end_s`` (a leaked
    connection stays; one opened and closed in passing is not a leak). The allowance is
    the pool's maximum when the service reports one (``pool.max``: a full idle pool is
    no leak), else the peak during the steady part of the run: after warm-up
    (``warm_end_s``) and before the first fault (``first_fault_s``; the load end when
    there is none). Never the peak during the whole load: connections leaked under the
    faults would raise their own allowance. ``value`` is how far the settled count
    exceeds the allowance, and ``None`` with a ``reason`` ("not measured: ...") when
    there is no figure to judge: unknown, not 0.
    """
    conns = [(s.t_s, c, (s.pg_connections or {}).get("app_by"))
             for s in samples
             if isinstance(c := (s.pg_connections or {}).get("app"), int | float)]
    if not conns:
        return {"value": None, "reason": "not measured: no pg_connections.app in the samples "
                "(no proxy pid to count the service's connections by, and no connection "
                "with its application_name)"}
    counted_by = sorted({str(by) for _, _, by in conns if by})
    after = [(t, c) for t, c, _ in conns if t > load_end_s]
    if not after:
        return {"value": None, "counted_by": counted_by,
                "reason": f"not measured: no pg_connections.app after the load ended "
                          f"({load_end_s:g} s)"}
    tail = after[-LEAK_TAIL_SAMPLES:]
    settled = min(c for _, c in tail)
    pool_max = max((m for s in samples
                    if isinstance(m := (s.pool or {}).get("max"), int | float) and m > 0),
                   default=None)
    steady_end = first_fault_s if first_fault_s is not None else load_end_s
    steady = [c for t, c, _ in conns if warm_end_s <= t < min(steady_end, load_end_s)]
    steady_peak = max(steady, default=None)
    out: dict[str, Any] = {
        "final": tail[-1][1], "final_t_s": tail[-1][0], "settled": settled,
        "tail": [c for _, c in tail], "pool_max": pool_max, "steady_peak": steady_peak,
        "steady_s": [warm_end_s, steady_end], "counted_by": counted_by,
        "load_peak": max((c for t, c, _ in conns if t <= load_end_s), default=None),
    }
    if pool_max is not None:
        allowed, source = pool_max, "pool.max"
    elif steady_peak is not None:
        allowed, source = steady_peak, "steady_peak"
    else:
        return {"value": None, **out,
                "reason": f"not measured: the service reports no pool.max and no "
                          f"pg_connections.app falls in the steady part "
                          f"({warm_end_s:g} s to {steady_end:g} s) to take its peak from"}
    return {"value": max(0, int(settled - allowed)), **out, "allowance": allowed,
            "allowance_from": source}


def shutdown_checks(
    exits: list[AppExit], events: list[TimelineEvent], table: RequestTable,
    series: TimeSeries,
) -> dict[str, Any]:
    """5xx of requests in flight between each SIGTERM and the exit it caused; exit codes."""
    applies = [(e.t_s, e.action or "") for e in events if e.event == "apply"]
    order = table.time_order()
    checks: list[dict[str, Any]] = []
    for ex in exits:
        if ex.signal != "SIGTERM" or ex.t_s is None:
            continue
        exit_t = ex.t_s
        term_t = max((t for t, a in applies if a == ex.cause and t <= exit_t),
                     default=exit_t)
        lo = bisect.bisect_left(series.t_s, term_t - MAX_IN_FLIGHT_S)
        hi = bisect.bisect_right(series.t_s, exit_t)
        bad = [order[k] for k in range(lo, hi)
               if table.status[order[k]] >= 500
               and table.t_s[order[k]] + table.latency_ms[order[k]] / 1000.0 >= term_t]
        checks.append({"term_t_s": term_t, "exit_t_s": exit_t,
                       "returncode": ex.returncode, "cause": ex.cause,
                       "status_5xx": len(bad),
                       "first_5xx_t_s": [table.t_s[i] for i in bad[:5]]})
    codes = [c["returncode"] for c in checks if isinstance(c["returncode"], int)]
    worst = next((c for c in codes if c != 0), 0) if codes else None
    return {"shutdowns": checks, "shutdown_5xx": sum(c["status_5xx"] for c in checks)
            if checks else None, "shutdown_exit_code": worst}


def schema_error_count(log_dir: Path) -> int | None:
    """Undefined column/table errors in the app's logs (logs/app*.log); None without logs."""
    logs = sorted(log_dir.glob("app*.log")) if log_dir.is_dir() else []
    if not logs:
        return None
    total = 0
    for p in logs:
        with p.open(encoding="utf-8", errors="replace") as fh:
            total += sum(1 for line in fh if _SCHEMA_ERROR.search(line))
    return total


def _startup(samples: Sequence[Sample], events: list[TimelineEvent]) -> dict[str, Any]:
    """Seconds from "the app could start" to its first ready sample, worst over (re)starts.

    The app is up before the run's zero, so the first start counts from 0; every restart
    (the ``remove`` line of a fault that affects the app and is undone by a restart:
    app.kill, app.term) counts from that line, or from Postgres coming back when that was
    later: the removal of a fault that took Postgres away (the server, or the ``postgres``
    link; never a fault on another link), or ``postgres_ready``. Dependency-ordered
    startup is ready within N s of its database.
    """
    restarts = [e.t_s for e in events if e.event == "remove"
                and (eff := e.effect) is not None and eff.restarts_app]
    pg_back = sorted(e.t_s for e in events if e.event == "postgres_ready" or (
        e.event == "remove" and (eff := e.effect) is not None and eff.hits_postgres))
    ready_times = [s.t_s for s in samples if s.ready is True]
    if not samples:
        return {"value": None, "reason": "no samples"}
    starts: list[dict[str, Any]] = []
    for began in [0.0, *restarts]:
        ready = next((t for t in ready_times if t >= began), None)
        if ready is None:
            starts.append({"started_t_s": began, "ready_t_s": None})
            continue
        pg = max((t for t in pg_back if began <= t <= ready), default=None)
        ref = max(began, pg) if pg is not None else began
        starts.append({"started_t_s": began, "from": "postgres_ready" if pg else "start",
                       "from_t_s": ref, "ready_t_s": ready, "seconds": ready - ref})
    never = [s for s in starts if s["ready_t_s"] is None]
    done = [s["seconds"] for s in starts if s["ready_t_s"] is not None]
    return {"value": max(done) if done and not never else None, "starts": starts,
            "never_ready": bool(never),
            "reason": f"no ready sample after the start at {never[0]['started_t_s']} s"
            if never else None}


def _app_fault_windows(events: list[TimelineEvent]) -> list[tuple[float, float]]:
    """Windows of the faults that affect the app (it is meant to go away and come back in
    them), by their timeline ``affects``."""
    opened: dict[tuple[int | None, int | None], float] = {}
    out: list[tuple[float, float]] = []
    for e in events:
        if (eff := e.effect) is None or eff.affects != "app":
            continue
        key = (e.fault, e.repeat)
        if e.event == "apply":
            opened[key] = e.t_s
        elif e.event == "remove" and key in opened:
            out.append((opened.pop(key), e.t_s))
    out += [(t, math.inf) for t in opened.values()]
    return out


def _crashes(
    exits: list[AppExit], events: list[TimelineEvent], samples: Sequence[Sample],
    load_end_s: float,
) -> list[dict[str, Any]]:
    """App exits nothing in the scenario caused: recorded exits with an unknown cause, and
    app pids that vanished or changed in the samples outside any window of a fault that
    affects the app."""
    actions = {str(e.action) for e in events if e.event == "apply"}
    found: list[dict[str, Any]] = [
        {"t_s": ex.t_s, "how": "exit", "detail": ex.to_json()} for ex in exits
        if (ex.cause or "") not in actions | EXPECTED_EXIT_CAUSES]
    windows = _app_fault_windows(events)
    last_pid: object = None
    for s in samples:
        if "app_proc" in s.missing:
            continue  # the sampler did not answer: no news about the pid
        t = s.t_s
        pid = s.app_proc.get("pid") if s.app_proc is not None else None
        if last_pid is not None and pid != last_pid and t < load_end_s and not any(
            lo - CRASH_SLACK_S <= t <= hi + CRASH_SLACK_S for lo, hi in windows
        ):
            found.append({"t_s": t, "how": "pid vanished" if pid is None else "pid changed",
                          "pid": last_pid, "new_pid": pid})
        if pid is not None or last_pid is not None:
            last_pid = pid if pid is not None else None
    return found


def _app_exits(run_info: RunInfo | None) -> list[AppExit]:
    """run.json ``app.exits``; a malformed one is a VerifyError naming it."""
    try:
        return run_info.app_exits() if run_info else []
    except RecordError as exc:
        raise VerifyError(str(exc)) from exc


def process_metrics(
    samples: Sequence[Sample], run_info: RunInfo | None, events: list[TimelineEvent],
    index: PhaseIndex, table: RequestTable, series: TimeSeries, log_dir: Path,
    load_end_s: float, warm_end_s: float | None = None,
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """(the ``process`` section of result.json, metrics by phase kind incl. ``run``).

    ``warm_end_s`` (the end of warm-up) bounds the steady part the connection-leak
    allowance may come from; without it, it is read from the timeline and run.json."""
    kinds = (*dict.fromkeys(index.kinds()), "run")
    metrics: dict[str, dict[str, Any]] = {k: {} for k in kinds}
    errors: dict[str, list[dict[str, Any]]] = {}
    for field, name in (("app_errors_unhandled", "unhandled_errors"),
                        ("stderr_unhandled", "stderr_unhandled_errors")):
        present = any(isinstance(getattr(s, field), int | float) for s in samples)
        incs = counter_increments(samples, field, per_process=field == "app_errors_unhandled")
        sums = _sum_by_kind(incs, index)
        for k in kinds:
            metrics[k][name] = int(sums.get(k, 0)) if present else None
        errors[name] = [{"t_s": t, "new": int(v),
                         "phase": index.phases[index.index_of(t)].name if index.phases else None}
                        for t, v in incs[:10]]
    warnings = _sum_by_kind(counter_increments(samples, "memory_warnings", per_process=True),
                            index)
    # a target whose stats never carry the field has no warning count: not measured, not 0
    reports_warnings = any(isinstance(s.memory_warnings, int | float) for s in samples)
    hours = {**index.duration_by_kind(), "run": sum(index.duration_by_kind().values())}
    for k in kinds:
        h = hours.get(k, 0.0) / 3600.0
        metrics[k]["memory_warnings_per_hour"] = (warnings.get(k, 0) / h
                                                  if reports_warnings and h else None)
    for name, judge in (("uptime", _uptime), ("pool_saturation", _saturated)):
        frac = _fraction_by_kind(samples, index, judge)
        for k in kinds:
            metrics[k][name] = frac.get(k)
    overflow = _fraction_by_kind(samples, index, _overflow)
    counts = _sum_by_kind(((s.t_s, 1.0) for s in samples if _overflow(s)), index)
    for k in kinds:
        metrics[k]["task_queue_overflow"] = int(counts.get(k, 0)) if k in overflow else None
    exits = _app_exits(run_info)
    # a service given by URL: the harness neither started nor watched its process
    owns_process = run_info is None or run_info.app.get("kind") != "url"
    crashes = _crashes(exits, events, samples, load_end_s)
    crash_sums = _sum_by_kind(((float(c.get("t_s") or 0.0), 1.0) for c in crashes), index)
    for k in kinds:
        metrics[k]["crashes"] = int(crash_sums.get(k, 0)) if run_info and owns_process else None
    if warm_end_s is None:
        warm_end_s = run_bounds(events, run_info)[0]
    first_fault = min((e.t_s for e in events if e.event == "apply"), default=None)
    leaks = connection_leaks(samples, load_end_s, warm_end_s, first_fault)
    shutdown = shutdown_checks(exits, events, table, series)
    startup = _startup(samples, events) if owns_process else {
        "value": None, "reason": "not measured: the service was given by URL, the harness never started it"}
    schema = schema_error_count(log_dir)
    metrics["run"].update({
        "connection_leaks": leaks["value"], "shutdown_5xx": shutdown["shutdown_5xx"],
        "shutdown_exit_code": shutdown["shutdown_exit_code"],
        "startup_seconds": startup["value"], "schema_errors": schema,
    })
    section = {"connections": leaks, "shutdown": shutdown, "startup": startup,
               "unhandled": errors,
               "app_logs": sorted(p.name for p in log_dir.glob("app*.log"))
               if log_dir.is_dir() else [],
               "crashes": crashes, "exits": [ex.to_json() for ex in exits], "schema_errors": schema,
               "samples": len(samples),
               # [ready, answered] samples per phase kind: uptime's trials (verify.confidence)
               "uptime_samples": _counts_by_kind(samples, index, _uptime)}
    return section, metrics
