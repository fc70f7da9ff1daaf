"""Per-second time series for the plots, streamed from the run's two big files.

``requests.csv`` can hold millions of rows and ``samples.jsonl`` a day of ticks, so
neither is loaded whole: rows are read one at a time and folded into one-second
buckets. A request bucket keeps its latencies in a compact ``array('d')`` (8 bytes
a request) so its percentiles are exact; a sample bucket keeps the last tick of
its second. Columns are found by header name, so extra columns do not matter.
"""

from __future__ import annotations

import csv
import json
import math
from array import array
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from harness.errors import ReportError
from harness.records import Sample
from harness.requests_file import open_requests

__all__ = [
    "RequestSeries",
    "SampleSeries",
    "request_series",
    "sample_series",
]

_NEEDED_COLUMNS = ("t_s", "ok", "latency_ms")


@dataclass
class RequestSeries:
    """Requests per one-second bucket: ``t_s[i]`` is the bucket's start."""

    t_s: list[float] = field(default_factory=list)
    requests: list[int] = field(default_factory=list)
    errors: list[int] = field(default_factory=list)
    p50_ms: list[float] = field(default_factory=list)
    p95_ms: list[float] = field(default_factory=list)
    p99_ms: list[float] = field(default_factory=list)
    rows: int = 0
    error_classes: dict[str, int] = field(default_factory=dict)

    @property
    def error_rate(self) -> list[float]:
        """Failed / all requests per bucket, in percent."""
        return [100.0 * e / n if n else math.nan for e, n in zip(self.errors, self.requests,
                                                                    strict=True)]


def request_series(path: Path, bucket_s: float = 1.0) -> RequestSeries:
    """Stream ``requests.csv`` into per-bucket counts, errors and exact latency percentiles."""
    buckets: dict[int, array[float]] = {}
    errors: dict[int, int] = {}
    classes: dict[str, int] = {}
    rows = 0
    with open_requests(path) as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None:
            return RequestSeries()
        idx = _column_index(path, header)
        i_t, i_ok, i_lat, i_err = idx["t_s"], idx["ok"], idx["latency_ms"], idx.get("error")
        for row in reader:
            try:
                t = float(row[i_t])
                latency = float(row[i_lat])
                ok = row[i_ok] == "1"
            except (ValueError, IndexError):
                continue  # a torn last line of a killed run
            key = int(t // bucket_s)
            lat = buckets.get(key)
            if lat is None:
                lat = buckets[key] = array("d")
                errors[key] = 0
            lat.append(latency)
            rows += 1
            if not ok:
                errors[key] += 1
                cls = row[i_err] if i_err is not None and i_err < len(row) else ""
                classes[cls or "other"] = classes.get(cls or "other", 0) + 1
    return _finish(buckets, errors, classes, rows, bucket_s)


def _column_index(path: Path, header: list[str]) -> dict[str, int]:
    idx = {name.strip(): i for i, name in enumerate(header)}
    lacking = [name for name in _NEEDED_COLUMNS if name not in idx]
    if lacking:
        raise ReportError(f"{path}: header lacks column(s) {', '.join(lacking)}: got {header}")
    return idx


def _finish(
    buckets: dict[int, array[float]],
    errors: dict[int, int],
    classes: dict[str, int],
    rows: int,
    bucket_s: float,
) -> RequestSeries:
    out = RequestSeries(rows=rows, error_classes=classes)
    if not buckets:
        return out
    first, last = min(buckets), max(buckets)
    for key in range(first, last + 1):
        lat = buckets.pop(key, None)
        out.t_s.append(key * bucket_s)
        if lat is None or len(lat) == 0:
            out.requests.append(0)
            out.errors.append(0)
            out.p50_ms.append(math.nan)
            out.p95_ms.append(math.nan)
            out.p99_ms.append(math.nan)
            continue
        p50, p95, p99 = np.percentile(np.frombuffer(lat, dtype=np.float64), [50, 95, 99])
        out.requests.append(len(lat))
        out.errors.append(errors.get(key, 0))
        out.p50_ms.append(float(p50))
        out.p95_ms.append(float(p95))
        out.p99_ms.append(float(p99))
    return out


@dataclass
class SampleSeries:
    """Sampler ticks, at most one per second (the last of each second)."""

    t_s: list[float] = field(default_factory=list)
    rss_mb: list[float] = field(default_factory=list)
    tracemalloc_mb: list[float] = field(default_factory=list)
    pool_in_use: list[float] = field(default_factory=list)
    pool_waiting: list[float] = field(default_factory=list)
    pool_max: list[float] = field(default_factory=list)
    breaker: list[str | None] = field(default_factory=list)
    ready: list[bool | None] = field(default_factory=list)
    pg_states: dict[str, list[float]] = field(default_factory=dict)
    ticks: int = 0

    def has(self, values: list[float]) -> bool:
        """Whether a series holds at least one real number."""
        return any(not math.isnan(v) for v in values)


def sample_series(path: Path, bucket_s: float = 1.0) -> SampleSeries:
    """Stream ``samples.jsonl``, keeping the plotted fields of the last tick of each second.

    A tick carries the raw stats body of the app, so only the few plotted numbers of
    each tick are kept (a day at one tick a second stays a few tens of MB).
    """
    last: dict[int, _Tick] = {}
    ticks = 0
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            try:
                obj = json.loads(line)
                tick = Sample.from_json(obj if isinstance(obj, dict) else {})
                key = int(tick.t_s // bucket_s)
            except ValueError:  # a blank or torn line, or one that is not a sample (RecordError)
                continue
            ticks += 1
            last[key] = _compact(tick)
    out = SampleSeries(ticks=ticks)
    states = sorted({s for tick in last.values() for s in tick.pg_by_state or {}})
    out.pg_states = {s: [] for s in states}
    for key in sorted(last):
        _append_tick(out, last[key], states)
    return out


@dataclass(frozen=True)
class _Tick:
    """The plotted numbers of one sampler tick."""

    t_s: float
    rss_mb: float
    traced_mb: float
    in_use: float
    waiting: float
    pool_max: float
    breaker: str | None
    ready: bool | None
    pg_by_state: dict[str, float] | None  # None: the pg sampler did not answer


def _num(value: object, scale: float = 1.0) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return math.nan
    return float(value) / scale


def _compact(tick: Sample) -> _Tick:
    mib = 1024.0 * 1024.0
    pool = tick.pool or {}
    pg = tick.pg_connections
    by_state = pg.get("by_state") if pg is not None else None
    return _Tick(
        t_s=tick.t_s,
        rss_mb=_num((tick.app_proc or {}).get("rss_bytes"), mib),
        traced_mb=_num(tick.tracemalloc_bytes, mib),
        in_use=_num(pool.get("in_use")), waiting=_num(pool.get("waiting")),
        pool_max=_num(pool.get("max")),
        breaker=tick.breaker, ready=tick.ready,
        pg_by_state=({str(k): _num(v) for k, v in by_state.items()}
                     if isinstance(by_state, dict) else {} if pg is not None else None),
    )


def _append_tick(out: SampleSeries, tick: _Tick, states: list[str]) -> None:
    out.t_s.append(tick.t_s)
    out.rss_mb.append(tick.rss_mb)
    out.tracemalloc_mb.append(tick.traced_mb)
    out.pool_in_use.append(tick.in_use)
    out.pool_waiting.append(tick.waiting)
    out.pool_max.append(tick.pool_max)
    out.breaker.append(tick.breaker)
    out.ready.append(tick.ready)
    for state in states:
        if tick.pg_by_state is None:
            out.pg_states[state].append(math.nan)
        else:
            out.pg_states[state].append(tick.pg_by_state.get(state, 0.0))
