"""Availability, error classes, throughput, recovery time and time to detect.

* availability = ok requests / requests, per phase kind and per named phase;
  ``error_rate`` is its complement; errors are counted by class (``http_503``,
  ``connection``, ``timeout``, ``other``) as requests.csv records them;
* recovery time of a fault: from its removal (or Postgres ready again) to the start of
  the first *sustained* success: an ok request opening a window of ``window_s`` seconds
  whose requests are at least ``min_ok`` ok (or the steady baseline less a margin, when
  the service sheds load even before any fault). The window must fit before the next
  fault or the end of the load; one that cannot proves nothing;
* time to detect: from the fault's application to the first sample with readiness 503
  or the database breaker open, or the app's first 503 answer, whichever came first.
"""

from __future__ import annotations

import bisect
from array import array
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from harness.records import Sample
from harness.verify.latency import latency_metrics
from harness.verify.phases import PhaseIndex
from harness.verify.requests import RequestTable
from harness.verify.windows import FaultWindow

__all__ = [
    "RecoveryRule",
    "Tally",
    "TimeSeries",
    "baseline_min_ok",
    "detect_time",
    "recovery_point",
    "request_metrics",
    "tally",
]


#: How many example rows (first failures, slowest requests) evidence carries.
EXAMPLE_ROWS = 5


@dataclass(frozen=True)
class RecoveryRule:
    """What "recovered" means: ``min_ok`` of the requests in ``window_s`` seconds were ok."""

    window_s: float = 5.0
    min_ok: float = 0.99
    #: Below a steady baseline under ``min_ok``, recovery is back to baseline less this.
    baseline_margin: float = 0.01
    baseline_min_requests: int = 50


@dataclass
class TimeSeries:
    """Requests in start-time order: times and a prefix sum of ok, for window queries."""

    t_s: array
    ok_prefix: array

    @classmethod
    def from_table(cls, table: RequestTable) -> TimeSeries:
        oks = np.frombuffer(table.ok, np.uint8) if len(table.ok) else np.zeros(0, np.uint8)
        if table.in_time_order:  # share the table's times: they are already sorted
            return cls(table.t_s, _prefix_sum(oks))
        order = np.asarray(table.time_order(), dtype=np.int64)
        t = array("d", [0.0]) * len(order)  # filled in place: no 80 MB temporaries at 10 M rows
        np.take(np.frombuffer(table.t_s, np.float64), order, out=np.frombuffer(t, np.float64))
        return cls(t, _prefix_sum(oks[order]))

    def first_ok(self, lo_s: float, hi_s: float) -> float | None:
        """Start time of the first ok request in ``[lo_s, hi_s)``, or None."""
        i = bisect.bisect_left(self.t_s, lo_s)
        j = bisect.bisect_left(self.t_s, hi_s)
        if self.ok_prefix[j] == self.ok_prefix[i]:
            return None
        while self.ok_prefix[i + 1] == self.ok_prefix[i]:
            i += 1
        return self.t_s[i]

    def count(self, lo_s: float, hi_s: float) -> tuple[int, int]:
        """(requests, ok requests) started in ``[lo_s, hi_s)``."""
        i = bisect.bisect_left(self.t_s, lo_s)
        j = bisect.bisect_left(self.t_s, hi_s)
        return j - i, self.ok_prefix[j] - self.ok_prefix[i]


def _prefix_sum(values: np.ndarray) -> array:
    """``array('q')`` of 0 then the running sums of ``values``, computed in place."""
    out = array("q", [0]) * (len(values) + 1)
    if len(values):
        np.cumsum(values, dtype=np.int64, out=np.frombuffer(out, np.int64)[1:])
    return out


def recovery_point(
    series: TimeSeries, start_s: float, until_s: float, rule: RecoveryRule,
    min_ok: float | None = None, until_what: str = "the load ended",
) -> tuple[float | None, dict[str, object]]:
    """The start of the first sustained success in ``[start_s, until_s)``, with evidence.

    The whole window must fit before ``until_s`` (the end of the load, or the next fault:
    requests after it say nothing about this fault). ``min_ok`` overrides the rule's.
    """
    need = rule.min_ok if min_ok is None else min_ok
    t, pref = series.t_s, series.ok_prefix
    i = bisect.bisect_left(t, start_s)
    n = len(t)
    while i < n:
        ti = t[i]
        if ti + rule.window_s > until_s:
            break
        if pref[i + 1] - pref[i] == 1:  # this request succeeded: does a window open here?
            lo = bisect.bisect_left(t, ti)
            hi = bisect.bisect_left(t, ti + rule.window_s)
            total, good = hi - lo, pref[hi] - pref[lo]
            if total and good >= need * total:
                return ti, {"window_start_s": ti, "window_requests": total, "window_ok": good,
                            "min_ok": need}
        i += 1
    total, good = series.count(start_s, until_s)
    return None, {
        "reason": f"no sustained success (a {rule.window_s:g} s window >= {need:.1%} ok) "
                  f"before {until_what}",
        "after_requests": total, "after_ok": good, "until_s": until_s, "min_ok": need,
    }


def baseline_min_ok(
    series: TimeSeries, lo_s: float, hi_s: float, rule: RecoveryRule
) -> tuple[float, float | None]:
    """(the ok share recovery must reach, the baseline availability it was derived from).

    Recovery means back to normal: when the service was below ``rule.min_ok`` already
    before any fault (an overloaded machine sheds load), requiring more than its own normal
    would call every fault unrecovered. The bar is then the baseline less ``margin``.
    """
    total, good = series.count(lo_s, hi_s)
    if total < rule.baseline_min_requests:
        return rule.min_ok, None
    baseline = good / total
    return min(rule.min_ok, baseline - rule.baseline_margin), baseline


def detect_time(
    window: FaultWindow, samples: Sequence[Sample], until_s: float,
    table: RequestTable | None = None, series: TimeSeries | None = None,
) -> tuple[float | None, dict[str, object]]:
    """Seconds from the fault's application to the service showing it knows.

    With a readiness probe (some sample has ``ready``) or a breaker: a sample with
    readiness 503 or the breaker open, or (finer than the sample tick) the end of the
    first request that *started* after the fault and was answered 503 (the fast
    refusal); the earlier wins. Without either, the service can only show it through
    its answers: the end of the first failed request that started after the fault.
    """
    found: list[tuple[float, dict[str, object]]] = []
    probed = any(s.ready is not None or s.breaker is not None for s in samples)
    for s in samples:
        t = s.t_s
        if t < window.applied_s:
            continue
        if t > until_s:
            break
        if s.ready is False or s.breaker == "open":
            how = "breaker open" if s.breaker == "open" else "readiness 503"
            found.append((t, {"sample_t_s": t, "signal": how}))
            break
    if table is not None and series is not None:
        first = _first_failed(table, series, window.applied_s, until_s, only_503=probed)
        if first is not None:
            signal = "first 503 response" if probed else "first failed request"
            found.append((first, {"request_t_s": first, "signal": signal}))
    if not found:
        what = "readiness 503, breaker open or 503 response" if probed else \
            "failed request (the target has no readiness probe)"
        return None, {"reason": f"no {what} after the fault", "searched_until_s": until_s}
    t, evidence = min(found, key=lambda f: f[0])
    return max(0.0, t - window.applied_s), evidence


def _first_failed(table: RequestTable, series: TimeSeries, lo_s: float, hi_s: float,
                  only_503: bool) -> float | None:
    """End time of the first request that started at or after ``lo_s`` and failed (with
    ``only_503``: was answered 503). A request that started before the fault says
    nothing about whether the service noticed it."""
    order = table.time_order()
    start = bisect.bisect_left(series.t_s, lo_s)
    stop = bisect.bisect_right(series.t_s, hi_s)
    best: float | None = None
    for k in range(start, stop):
        i = order[k]
        if best is not None and table.t_s[i] > best:
            break  # starts after the best end: cannot end before it
        failed = table.status[i] == 503 if only_503 else not table.ok[i]
        if failed:
            end = table.t_s[i] + table.latency_ms[i] / 1000.0
            if best is None or end < best:
                best = end
    return best


@dataclass
class Tally:
    """Per-phase request counts and per-kind latencies, from one pass over the rows."""

    n: list[int]
    ok: list[int]
    errors: list[Counter[int]]
    status_5xx: list[int]
    latencies: dict[str, np.ndarray] = field(default_factory=dict)
    #: Row indices of the first failed and the slowest requests of each phase (evidence).
    first_failed: list[list[int]] = field(default_factory=list)
    slowest: list[list[int]] = field(default_factory=list)

    def examples(self, table: RequestTable, phases: list[int]) -> dict[str, list[dict]]:
        """The first failures and slowest requests over ``phases``, as rows for evidence."""
        failed = sorted((i for p in phases for i in self.first_failed[p]),
                        key=table.t_s.__getitem__)[:EXAMPLE_ROWS]
        slow = sorted((i for p in phases for i in self.slowest[p]),
                      key=lambda i: -table.latency_ms[i])[:EXAMPLE_ROWS]
        return {"first_failures": [row_dict(table, i) for i in failed],
                "slowest": [row_dict(table, i) for i in slow]}


def row_dict(table: RequestTable, i: int) -> dict[str, object]:
    """One request as evidence: start, task, status, error, latency."""
    return {"t_s": table.t_s[i], "name": table.names[table.name_code[i]]
            if table.name_code[i] < len(table.names) else "?",
            "status": table.status[i], "error": table.errors[table.error_code[i]],
            "latency_ms": table.latency_ms[i]}


def tally(table: RequestTable, index: PhaseIndex, series: TimeSeries | None = None) -> Tally:
    """Count every request in the phase its start time falls in.

    Rows in time order split into one contiguous slice per phase (a bisect per phase,
    not per row), and each slice is counted with C-level ``map``/``Counter``.
    """
    series = series or TimeSeries.from_table(table)
    k = len(index.phases)
    out = Tally([0] * k, [0] * k, [Counter() for _ in range(k)], [0] * k)
    kinds = index.kinds()
    parts: dict[str, list[np.ndarray]] = {kind: [] for kind in set(kinds)}
    n_rows = len(series.t_s)
    cols = _numpy_columns(table)
    for p, phase in enumerate(index.phases):
        lo = 0 if p == 0 else bisect.bisect_left(series.t_s, phase.start_s)
        hi = n_rows if p == k - 1 else bisect.bisect_left(series.t_s, index.phases[p + 1].start_s)
        rows = cols.order[lo:hi] if cols.order is not None else slice(lo, hi)
        ok, lat = cols.ok[rows], cols.latency[rows]
        out.n[p] = len(ok)
        out.ok[p] = series.ok_prefix[hi] - series.ok_prefix[lo] if hi > lo else 0
        out.first_failed.append([])
        if out.ok[p] < out.n[p]:
            failed = np.flatnonzero(ok == 0)
            codes = np.bincount(cols.error[rows][failed], minlength=1)
            out.errors[p].update({c: int(v) for c, v in enumerate(codes) if v})
            out.first_failed[p] = [cols.row(rows, int(i)) for i in failed[:EXAMPLE_ROWS]]
        top = np.argpartition(-lat, EXAMPLE_ROWS)[:EXAMPLE_ROWS] if len(lat) > EXAMPLE_ROWS \
            else np.arange(len(lat))
        top = top[np.lexsort((top, -lat[top]))]  # slowest first, earlier rows on ties
        out.slowest.append([cols.row(rows, int(i)) for i in top])
        out.status_5xx[p] = int(np.count_nonzero(cols.status[rows] >= 500))
        parts[kinds[p]].append(lat)
    out.latencies = {kind: np.concatenate(v) if v else np.zeros(0) for kind, v in parts.items()}
    return out


@dataclass
class _Columns:
    """The table's columns as numpy views (no copy), and the time order when rows are not."""

    ok: np.ndarray
    latency: np.ndarray
    error: np.ndarray
    status: np.ndarray
    order: np.ndarray | None

    def row(self, rows: slice | np.ndarray, i: int) -> int:
        """The table row of the ``i``-th row of a phase's ``rows``."""
        return int(rows.start + i) if isinstance(rows, slice) else int(rows[i])


def _numpy_columns(table: RequestTable) -> _Columns:
    order = table.time_order()
    return _Columns(
        np.frombuffer(table.ok, np.uint8) if len(table.ok) else np.zeros(0, np.uint8),
        np.frombuffer(table.latency_ms, np.float64) if len(table) else np.zeros(0),
        np.frombuffer(table.error_code, np.uint8) if len(table) else np.zeros(0, np.uint8),
        np.frombuffer(table.status, np.uint16) if len(table) else np.zeros(0, np.uint16),
        None if isinstance(order, range) else np.asarray(order, dtype=np.int64))


def _block(
    n: int, ok: int, errors: Counter[int], duration_s: float, table: RequestTable
) -> dict[str, object]:
    by_class = {table.errors[c] or "unclassified": v for c, v in sorted(errors.items())}
    minutes = duration_s / 60.0
    return {
        "requests": n,
        "availability": ok / n if n else None,
        "error_rate": (n - ok) / n if n else None,
        "throughput_rps": n / duration_s if duration_s > 0 else None,
        "connection_errors_per_minute":
            by_class.get("connection", 0) / minutes if minutes > 0 else None,
        "errors_by_class": by_class,
    }


def request_metrics(
    table: RequestTable, index: PhaseIndex, counts: Tally
) -> tuple[dict[str, dict[str, object]], dict[str, dict[str, object]]]:
    """(metrics by phase kind incl. ``run``, metrics by phase name) from a :class:`Tally`."""
    by_kind: dict[str, dict[str, object]] = {}
    by_name: dict[str, dict[str, object]] = {}
    durations = index.duration_by_kind()
    kind_n: Counter[str] = Counter()
    kind_ok: Counter[str] = Counter()
    kind_err: dict[str, Counter[int]] = {}
    for p, phase in enumerate(index.phases):
        by_name[phase.name] = _block(
            counts.n[p], counts.ok[p], counts.errors[p], phase.duration_s, table)
        kind_n[phase.kind] += counts.n[p]
        kind_ok[phase.kind] += counts.ok[p]
        kind_err.setdefault(phase.kind, Counter()).update(counts.errors[p])
    all_err: Counter[int] = Counter()
    for kind, errs in kind_err.items():
        by_kind[kind] = _block(kind_n[kind], kind_ok[kind], errs, durations.get(kind, 0.0), table)
        by_kind[kind].update(latency_metrics(counts.latencies.get(kind, array("d"))))
        all_err.update(errs)
    run_duration = sum(durations.values())
    by_kind["run"] = _block(sum(kind_n.values()), sum(kind_ok.values()), all_err,
                            run_duration, table)
    by_kind["run"].update(latency_metrics(table.latency_ms))
    return by_kind, by_name
