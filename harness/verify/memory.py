"""Memory: RSS growth trend, growing allocation sites, per-phase memory.

* The app's RSS (samples.jsonl ``app_proc.rss_bytes``) after warm-up is fitted with
  Theil-Sen (the median of pairwise slopes: one GC pause cannot tilt it) with Sen's
  95 % interval from Kendall's S, per process lifetime: pairs of samples of one pid
  only, so a restart's drop is never a slope (:mod:`harness.verify.lifetimes`). It is
  a leak only when the interval's *lower* bound exceeds the threshold, so noise does
  not cry wolf and a steady slow leak over a long run is still caught.
  Under ``MIN_TREND_SPAN_S`` of samples in the longest lifetime no leak is called either
  way: a minute of an allocator warming up looks exactly like a leak.
* A tracemalloc site (memory/diff-NNNN.json) counts as growing only when it grew in
  ``min_streak`` consecutive diffs (3, or every diff when there are fewer), so one-off
  caches and warm-up allocations are not blamed, and its net growth over the diffs comes
  to a fifth of the RSS threshold per hour or more (``SITE_RATE_OF_THRESHOLD``), so a
  busy site that grows and shrinks by kilobytes is not blamed for a lucky streak.
* Per fault: RSS before it and after its recovery; growth that persists is flagged.

MB here is 10**6 bytes.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from harness.records import Sample
from harness.verify.lifetimes import Lifetime, after_warmup, pooled_theil_sen, split_lifetimes
from harness.verify.phases import Phase

__all__ = [
    "MB",
    "MIN_TREND_SPAN_S",
    "TheilSen",
    "growing_sites",
    "memory_report",
    "persisting_growth",
    "rss_points",
    "theil_sen",
]

MB = 1_000_000.0
_Z95 = 1.959963984540054
#: Pairwise slopes grow as n**2; longer series are thinned to this many evenly spaced points.
MAX_FIT_POINTS = 400
#: A fit over less time than this cannot tell a leak from the allocator warming up.
MIN_TREND_SPAN_S = 120.0
#: A growing tracemalloc site is named only when it grows at this share of the RSS
#: threshold or more (:func:`growing_sites`).
SITE_RATE_OF_THRESHOLD = 0.2
#: Growth after recovery counts as persisting beyond max(this, 10 % of the level before).
PERSIST_MIN_MB = 10.0


@dataclass(frozen=True)
class TheilSen:
    """A robust line fit: slope (units of y per unit of x) and its 95 % interval."""

    slope: float
    low: float
    high: float
    intercept: float
    points: int


def theil_sen(xs: Sequence[float], ys: Sequence[float]) -> TheilSen | None:
    """Theil-Sen slope with Sen's 95 % interval (ties in x corrected); None under 3 points."""
    pts = list(zip(xs, ys, strict=True))
    if len(pts) > MAX_FIT_POINTS:
        step = len(pts) / MAX_FIT_POINTS
        pts = [pts[int(i * step)] for i in range(MAX_FIT_POINTS)]
    n = len(pts)
    if n < 3:
        return None
    slopes = sorted(
        (pts[j][1] - pts[i][1]) / (pts[j][0] - pts[i][0])
        for i in range(n) for j in range(i + 1, n) if pts[j][0] != pts[i][0]
    )
    if not slopes:
        return None
    slope = statistics.median(slopes)
    ties = _tie_groups([x for x, _ in pts])
    var_s = (n * (n - 1) * (2 * n + 5) - sum(t * (t - 1) * (2 * t + 5) for t in ties)) / 18.0
    c = _Z95 * math.sqrt(max(var_s, 0.0))
    m = len(slopes)
    lo_i = max(int(round((m - c) / 2.0)) - 1, 0)
    hi_i = min(int(round((m + c) / 2.0)), m - 1)
    intercept = statistics.median(y - slope * x for x, y in pts)
    return TheilSen(slope, slopes[lo_i], slopes[hi_i], intercept, n)


def _tie_groups(xs: list[float]) -> list[int]:
    counts: dict[float, int] = {}
    for x in xs:
        counts[x] = counts.get(x, 0) + 1
    return [c for c in counts.values() if c > 1]


def rss_points(samples: Sequence[Sample]) -> list[tuple[float, float]]:
    """(t_s, rss_bytes) of every sample that has the app's RSS."""
    out: list[tuple[float, float]] = []
    for s in samples:
        rss = s.app_proc.get("rss_bytes") if s.app_proc is not None else None
        if isinstance(rss, int | float) and rss > 0:
            out.append((s.t_s, float(rss)))
    return out


def _fit_mb_per_hour(lives: list[Lifetime]) -> dict[str, Any]:
    """The within-lifetime fit in MB/h; ``trend_reason`` says why it cannot call a leak
    (too short a span: the longest lifetime's, see :mod:`harness.verify.lifetimes`)."""
    span = max((life.span_s for life in lives), default=0.0)
    count = sum(len(life.points) for life in lives)
    fit = pooled_theil_sen([life.points for life in lives])
    if fit is None:
        return {"slope_mb_per_hour": None, "ci95": None, "points": count,
                "span_s": span, "trend_reason": "fewer than 3 RSS samples"}
    k = 3600.0 / MB
    what = "of samples" if len(lives) == 1 else \
        f"of samples in the longest of {len(lives)} process lifetimes"
    return {"slope_mb_per_hour": fit.slope * k, "ci95": [fit.low * k, fit.high * k],
            "points": fit.points, "span_s": span, "lifetimes_fitted": fit.lifetimes,
            "trend_reason": f"{span:.0f} s {what} is too short to tell a leak from warm-up "
                            f"(needs {MIN_TREND_SPAN_S:.0f} s)"
            if span < MIN_TREND_SPAN_S else None}


def _lifetime_fits(lives: list[Lifetime]) -> list[dict[str, Any]]:
    """Each lifetime's own fit, for the report (the verdict uses the pooled one)."""
    out = []
    for life in lives:
        fit = _fit_mb_per_hour([life])
        out.append({"pid": life.pid, "start_s": life.points[0][0], "end_s": life.points[-1][0],
                    **{k: fit[k] for k in ("slope_mb_per_hour", "ci95", "points", "span_s")}})
    return out


def _within(lives: list[Lifetime], spans: list[tuple[float, float]]) -> list[Lifetime]:
    out = []
    for life in lives:
        pts = tuple(p for p in life.points if any(lo <= p[0] < hi for lo, hi in spans))
        if pts:
            out.append(Lifetime(life.pid, pts))
    return out


def _diff_span_s(diffs: list[tuple[str, dict[str, Any]]]) -> float | None:
    """Seconds the diffs cover, from the snapshot before the first (one interval earlier)
    to the last; None when they carry no times."""
    times = [float(t) for _, d in diffs if isinstance(t := d.get("t_s"), int | float)]
    if len(times) != len(diffs) or len(times) < 2 or times[-1] <= times[0]:
        return None
    return (times[-1] - times[0]) * len(times) / (len(times) - 1)


def growing_sites(
    diffs: list[tuple[str, dict[str, Any]]], min_streak: int = 3, top: int = 10,
    min_mb_per_hour: float = 0.0,
) -> list[dict[str, Any]]:
    """Sites that grew in ``min_streak`` consecutive diffs and, when the diffs carry their
    times, whose net growth over them (last size less the size before the first diff the
    site shows in) comes to at least ``min_mb_per_hour``; biggest total growth first.

    The rate keeps busy sites that grow and shrink by a few KB (asyncio's ready queue, a
    bounded history filling up) from being named for three lucky diffs in a row: on a
    clean 2-minute run with tracemalloc two such sites did that, at 2.5 and 0.5 MB/h,
    where the planted leak's site grew 63 MB/h (120 MB/h without a twin beside it)."""
    if len(diffs) < 2:
        return []
    need = min(min_streak, len(diffs))
    span_s = _diff_span_s(diffs)
    state: dict[str, dict[str, Any]] = {}
    for pos, (fname, diff) in enumerate(diffs):
        for entry in diff.get("top") or []:
            site = str(entry.get("site", "?"))
            grew = float(entry.get("size_diff_bytes") or 0)
            size = float(entry.get("size_bytes") or 0)
            st = state.setdefault(site, {"streak": 0, "best": 0, "last": -2, "growth": 0.0,
                                         "before": size - grew})
            st["streak"] = st["streak"] + 1 if grew > 0 and st["last"] == pos - 1 else int(grew > 0)
            st["last"] = pos if grew > 0 else -2
            st["best"] = max(st["best"], st["streak"])
            st["growth"] += max(grew, 0.0)
            st.update(size=entry.get("size_bytes"), count=entry.get("count"), file=fname,
                      traceback=list(entry.get("traceback") or [site]))
    flagged = []
    for site, st in state.items():
        net = float(st["size"] or 0) - st["before"]
        rate = net / MB * 3600.0 / span_s if span_s else None
        if st["best"] < need or (rate is not None and rate < min_mb_per_hour):
            continue
        flagged.append({
            "site": site, "growth_bytes": st["growth"], "consecutive_diffs": st["best"],
            "net_growth_bytes": net, "mb_per_hour": rate,
            "size_bytes": st["size"], "count": st["count"], "traceback": st["traceback"],
            "last_seen_in": st["file"]})
    flagged.sort(key=lambda d: -d["growth_bytes"])
    return flagged[:top]


def persisting_growth(
    points: list[tuple[float, float]], phases: list[Phase]
) -> list[dict[str, Any]]:
    """For each fault: median RSS just before it vs after its recovery ended."""
    out: list[dict[str, Any]] = []
    for i, ph in enumerate(phases):
        if ph.kind != "recovery":
            continue
        fault_start = next((p.start_s for p in reversed(phases[:i]) if p.kind == "fault"
                            and p.fault == ph.fault), ph.start_s)
        after_end = next((p.start_s for p in phases[i + 1:] if p.kind == "fault"), math.inf)
        before = [r for t, r in points if fault_start - 30.0 <= t < fault_start]
        after = [r for t, r in points if ph.end_s <= t < after_end]
        if not before or not after:
            continue
        b, a = statistics.median(before) / MB, statistics.median(after) / MB
        out.append({"fault": ph.fault, "phase": ph.name, "before_mb": b, "after_mb": a,
                    "growth_mb": a - b, "persists": a - b > max(PERSIST_MIN_MB, 0.1 * b)})
    return out


def memory_report(
    samples: Sequence[Sample],
    diffs: list[tuple[str, dict[str, Any]]],
    phases: list[Phase],
    warm_end_s: float,
    threshold_mb_per_hour: float,
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """(the ``memory`` section of result.json, memory metrics by phase kind incl. ``run``)."""
    points = rss_points(samples)
    lives = after_warmup(split_lifetimes(samples), warm_end_s)
    run_fit = _fit_mb_per_hour(lives)
    sites = growing_sites(diffs, min_mb_per_hour=SITE_RATE_OF_THRESHOLD * threshold_mb_per_hour)
    ci = run_fit["ci95"]
    section: dict[str, Any] = {
        **run_fit, "threshold_mb_per_hour": threshold_mb_per_hour,
        "leak": None if run_fit["trend_reason"] else bool(ci and ci[0] > threshold_mb_per_hour),
        "peak_rss_bytes": max((r for _, r in points), default=None),
        "top_sites": sites, "diffs": len(diffs),
        "after_recovery": persisting_growth(points, phases),
        "lifetimes": _lifetime_fits(lives),
    }
    metrics: dict[str, dict[str, Any]] = {"run": {
        "memory_growth_mb_per_hour": run_fit["slope_mb_per_hour"],
        "peak_rss_mb": section["peak_rss_bytes"] / MB if section["peak_rss_bytes"] else None,
        "memory_leak_sites": len(sites) if len(diffs) >= 2 else None,
    }}
    for kind in ("warmup", "steady", "fault", "recovery"):
        spans = [(p.start_s, p.end_s) for p in phases if p.kind == kind]
        pts = [(t, r) for t, r in points if any(lo <= t < hi for lo, hi in spans)]
        fit = _fit_mb_per_hour(_within(lives, spans)) if kind != "warmup" else \
            {"slope_mb_per_hour": None}
        metrics[kind] = {
            "memory_growth_mb_per_hour": fit["slope_mb_per_hour"],
            "peak_rss_mb": max((r for _, r in pts), default=0.0) / MB if pts else None,
        }
        section.setdefault("by_phase", {})[kind] = {**fit, "samples": len(pts)}
    return section, metrics
