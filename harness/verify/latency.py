"""Exact latency percentiles from the raw per-request rows (not Locust's rounded buckets).

A percentile here is the nearest-rank one: the smallest recorded latency such that at
least ``q`` of all latencies are <= it (so it is always a latency that happened). The
rank is computed with exact fractions, so ``p95`` of 100 values is the 95th, never the
96th because ``0.95 * 100`` is ``95.00000000000001`` in floating point.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from fractions import Fraction

import numpy as np

__all__ = ["PERCENTILES", "latency_metrics", "nearest_rank"]

#: Metric name -> percentile (in percent, as text so it stays exact).
PERCENTILES: dict[str, str] = {
    "p50_latency_ms": "50",
    "p95_latency_ms": "95",
    "p99_latency_ms": "99",
    "p999_latency_ms": "99.9",
}


def nearest_rank(sorted_values: Sequence[float], percent: str | int | Fraction) -> float | None:
    """The nearest-rank ``percent`` percentile of ascending ``sorted_values`` (None if empty)."""
    n = len(sorted_values)
    if n == 0:
        return None
    q = Fraction(str(percent)) / 100
    if not 0 < q <= 1:
        raise ValueError(f"percentile must be in (0, 100], got {percent}")
    rank = -((-q.numerator * n) // q.denominator)  # ceil(q * n), exactly
    return float(sorted_values[max(rank, 1) - 1])


def _rank(n: int, percent: str) -> int:
    q = Fraction(percent) / 100
    return max(-((-q.numerator * n) // q.denominator), 1) - 1  # ceil(q * n), 0-based


def latency_metrics(values: Sequence[float] | np.ndarray) -> dict[str, float | None]:
    """p50/p95/p99/p99.9/max in ms of ``values`` (any order). Only the few ranks asked for
    are put in place (``np.partition``, linear time), never a sort of 10 M latencies."""
    data = np.frombuffer(values, np.float64) if isinstance(values, array) and \
        values.typecode == "d" else np.asarray(values, dtype=np.float64)
    n = len(data)
    if n == 0:
        return {**dict.fromkeys(PERCENTILES), "max_latency_ms": None}
    ranks = {name: _rank(n, pct) for name, pct in PERCENTILES.items()}
    placed = np.partition(data, sorted(set(ranks.values()) | {n - 1}))
    out: dict[str, float | None] = {name: float(placed[r]) for name, r in ranks.items()}
    out["max_latency_ms"] = float(placed[n - 1])
    return out
