"""The app's RSS per process lifetime, and one slope fitted within lifetimes only.

After a restart (``app.kill``, ``app.term``, a crash) the new process starts from a lower
RSS: one line through both lifetimes sees a drop and a climb back, and its slope says
nothing about either process. So the samples are split by ``app_proc.pid`` into
lifetimes (a sample without a pid, the sampler not answering, continues the current
one), each later lifetime drops its own first :data:`RESTART_WARMUP_S` (import, pool
fill and first requests; the run's warm-up does that for the first process), and the
slope is judged on all lifetimes together, comparing samples of one process only:

* the estimate is the median of the pairwise slopes *within* each lifetime (Hirsch's
  seasonal Kendall slope, lifetimes as the seasons), so a leak that grows in every
  process is seen in all of them and a drop at a restart is never a slope;
* its 95 % interval is Sen's, with the variance of Kendall's S summed over lifetimes
  (they are independent processes), so with one lifetime it is exactly the plain
  Theil-Sen fit of :func:`harness.verify.memory.theil_sen`;
* whether the series is long enough to tell a leak from warm-up is decided on the
  longest lifetime: two lifetimes of a minute are two warm-ups, not two minutes of
  evidence.

Why pooled, not the longest or the worst lifetime: the longest discards the others'
evidence (a leak in every process is stronger evidence than one), and the worst of
several fits is a multiple comparison that cries wolf more often the more restarts a
scenario has. Each lifetime's own fit is still reported (``memory.lifetimes``).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from harness.records import Sample

__all__ = [
    "RESTART_WARMUP_S",
    "Lifetime",
    "PooledFit",
    "after_warmup",
    "pooled_theil_sen",
    "split_lifetimes",
]

#: Seconds of a restarted process's samples dropped as its own warm-up.
RESTART_WARMUP_S = 10.0
#: Pairwise slopes grow as n**2: the lifetimes together are thinned to this many points.
MAX_FIT_POINTS = 400
_Z95 = 1.959963984540054


@dataclass(frozen=True)
class Lifetime:
    """One app process's RSS samples: ``points`` are ``(t_s, rss_bytes)`` in time order."""

    pid: int | None
    points: tuple[tuple[float, float], ...]

    @property
    def span_s(self) -> float:
        return self.points[-1][0] - self.points[0][0] if self.points else 0.0


@dataclass(frozen=True)
class PooledFit:
    """The within-lifetime slope (y per x), its 95 % interval, and what it was fitted on."""

    slope: float
    low: float
    high: float
    points: int
    lifetimes: int


def split_lifetimes(samples: Sequence[Sample]) -> list[Lifetime]:
    """``(t_s, rss_bytes)`` of every sample with the app's RSS, one list per pid run."""
    out: list[tuple[int | None, list[tuple[float, float]]]] = []
    for s in samples:
        proc = s.app_proc
        if not isinstance(proc, dict):
            continue
        rss, pid = proc.get("rss_bytes"), proc.get("pid")
        if not (isinstance(rss, int | float) and rss > 0):
            continue
        pid = int(pid) if isinstance(pid, int) else None
        if not out or (pid is not None and out[-1][0] is not None and pid != out[-1][0]):
            out.append((pid, []))
        elif out[-1][0] is None and pid is not None:
            out[-1] = (pid, out[-1][1])
        out[-1][1].append((float(s.t_s), float(rss)))
    return [Lifetime(pid, tuple(pts)) for pid, pts in out]


def after_warmup(lifetimes: list[Lifetime], warm_end_s: float,
                 restart_warmup_s: float = RESTART_WARMUP_S) -> list[Lifetime]:
    """Each lifetime without its warm-up: the first up to ``warm_end_s`` (the run's), every
    later one its first ``restart_warmup_s``; lifetimes left empty are dropped."""
    out: list[Lifetime] = []
    for i, life in enumerate(lifetimes):
        start = warm_end_s if i == 0 else max(warm_end_s, life.points[0][0] + restart_warmup_s)
        kept = tuple(p for p in life.points if p[0] >= start)
        if kept:
            out.append(Lifetime(life.pid, kept))
    return out


def _thin(groups: list[Sequence[tuple[float, float]]]) -> list[Sequence[tuple[float, float]]]:
    total = sum(len(g) for g in groups)
    if total <= MAX_FIT_POINTS:
        return groups
    out: list[Sequence[tuple[float, float]]] = []
    for g in groups:
        keep = max(1, round(len(g) * MAX_FIT_POINTS / total))
        step = len(g) / keep
        out.append([g[int(i * step)] for i in range(keep)])
    return out


def _var_s(xs: Sequence[float]) -> float:
    """Variance of Kendall's S for one series, corrected for ties in x."""
    n = len(xs)
    counts: dict[float, int] = {}
    for x in xs:
        counts[x] = counts.get(x, 0) + 1
    ties = sum(t * (t - 1) * (2 * t + 5) for t in counts.values() if t > 1)
    return (n * (n - 1) * (2 * n + 5) - ties) / 18.0


def pooled_theil_sen(groups: list[Sequence[tuple[float, float]]]) -> PooledFit | None:
    """The median of pairwise slopes within each group, with Sen's 95 % interval from the
    summed variance of S; None without at least one group of 3 points."""
    groups = _thin([g for g in groups if len(g) >= 2])
    if not any(len(g) >= 3 for g in groups):
        return None
    slopes: list[float] = []
    var_s = 0.0
    for pts in groups:
        n = len(pts)
        slopes += [(pts[j][1] - pts[i][1]) / (pts[j][0] - pts[i][0])
                   for i in range(n) for j in range(i + 1, n) if pts[j][0] != pts[i][0]]
        var_s += _var_s([x for x, _ in pts])
    if not slopes:
        return None
    slopes.sort()
    m = len(slopes)
    c = _Z95 * math.sqrt(max(var_s, 0.0))
    lo_i = max(int(round((m - c) / 2.0)) - 1, 0)
    hi_i = min(int(round((m + c) / 2.0)), m - 1)
    return PooledFit(statistics.median(slopes), slopes[lo_i], slopes[hi_i],
                     sum(len(g) for g in groups), len(groups))
