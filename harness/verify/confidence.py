"""Rate SLOs judged on a confidence bound, not on the observed rate alone.

Five clean starts out of five is an observed 100 %, yet it cannot show a ">= 99 %"
startup success rate: a service that fails one start in twenty would do as well one
time in three. A rate SLO (availability, error rate, uptime, and the seed table's
startup success) is therefore judged on the one-sided 95 % Wilson score bound of the
observed rate, on the side the SLO cares about:

* ``>=``/``>`` (a success rate): **pass** only when the *lower* bound meets the
  threshold; **fail** when the observed rate itself misses it; otherwise **unknown**,
  not enough trials (the reason says how many there were, the bound, and how many
  would be needed had every one succeeded);
* ``<``/``<=`` (a failure rate): the same with the *upper* bound;
* ``==``/``!=``: no bound (an exact count, judged as observed).

One-sided, because the question is only "at least N %" (or "at most"): at 95 % it
needs ``ceil(z**2 * t / (1 - t))`` flawless trials for a threshold ``t``: 268 for 99 %,
2,703 for 99.9 %, as the rule of three's 300 and 3,000 say. Wilson rather than
Clopper-Pearson because it is closed-form and stays within 1 % of the exact bound for
the trial counts here (the exact one needs a beta quantile, i.e. scipy).

Trials are what the metric counts: requests (availability, error rate), samples with a
probe answer (uptime), runs (startup success). Samples a second apart are not
independent trials, so for uptime the bound is a floor on honesty, not a guarantee.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

__all__ = [
    "CONFIDENCE",
    "RATE_METRICS",
    "RateCount",
    "RateJudgement",
    "judge_rate",
    "rate_counts",
    "trials_needed",
    "wilson_bounds",
]

#: One-sided confidence of the bound a rate SLO is judged on.
CONFIDENCE = 0.95
_Z = NormalDist().inv_cdf(CONFIDENCE)
#: Metrics that are a rate of counted trials, and what one trial is.
RATE_METRICS: dict[str, str] = {"availability": "requests", "error_rate": "requests",
                                "uptime": "samples"}
_AT_LEAST = (">=", ">")
_AT_MOST = ("<=", "<")


@dataclass(frozen=True)
class RateCount:
    """``hits`` of ``trials`` (ok requests, failed requests, ready samples, started runs)."""

    hits: int
    trials: int
    unit: str = "trials"

    @property
    def rate(self) -> float | None:
        return self.hits / self.trials if self.trials else None

    def to_list(self) -> list[int]:
        return [self.hits, self.trials]


@dataclass(frozen=True)
class RateJudgement:
    """A rate SLO's verdict: ``judged`` is the bound it was judged on (None: no trials)."""

    verdict: str
    judged: float | None
    evidence: dict[str, Any]


def wilson_bounds(hits: int, trials: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """(lower, upper) one-sided Wilson score bounds of ``hits / trials`` at ``confidence``
    each; ``(0, 1)`` without trials."""
    if trials <= 0:
        return 0.0, 1.0
    if not 0 <= hits <= trials:
        raise ValueError(f"hits must be within 0..trials, got {hits} of {trials}")
    z = _Z if confidence == CONFIDENCE else NormalDist().inv_cdf(confidence)
    p = hits / trials
    z2 = z * z
    centre = p + z2 / (2 * trials)
    spread = z * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials))
    denom = 1 + z2 / trials
    low = 0.0 if hits == 0 else max(0.0, (centre - spread) / denom)
    high = 1.0 if hits == trials else min(1.0, (centre + spread) / denom)
    return low, high


def trials_needed(op: str, threshold: float) -> int | None:
    """The fewest trials, every one of them good, whose bound can meet ``op threshold``
    (None: no number of trials can: a threshold of 100 % or 0 %)."""
    t = threshold if op in _AT_LEAST else 1.0 - threshold
    if t <= 0:
        return 1
    if t >= 1:
        return None
    n = max(1, math.ceil(_Z * _Z * t / (1 - t)))
    while not _good_enough(op, threshold, n):  # strict ops, rounding at the edge
        n += 1
    return n


def _good_enough(op: str, threshold: float, n: int) -> bool:
    low, high = wilson_bounds(n if op in _AT_LEAST else 0, n)
    return _meets(op, low if op in _AT_LEAST else high, threshold)


def _meets(op: str, value: float, threshold: float) -> bool:
    return {">=": value >= threshold, ">": value > threshold,
            "<=": value <= threshold, "<": value < threshold}[op]


def _pct(x: float) -> str:
    text = f"{100.0 * x:.2f}".rstrip("0").rstrip(".")
    return f"{text}%"


def judge_rate(op: str, threshold: float, count: RateCount) -> RateJudgement:
    """The verdict of ``rate <op> threshold`` for ``count`` (see the module docstring)."""
    rate = count.rate
    if rate is None:
        return RateJudgement("unknown", None, {"reason": f"no {count.unit} to judge a rate on"})
    low, high = wilson_bounds(count.hits, count.trials)
    side = "lower" if op in _AT_LEAST else "upper"
    bound = low if op in _AT_LEAST else high
    seen = f"{count.hits}/{count.trials} {count.unit}"
    shown = f"{_pct(threshold)}"
    info: dict[str, Any] = {
        "hits": count.hits, "trials": count.trials, "unit": count.unit, "rate": rate,
        "confidence": CONFIDENCE, "bound": side, "bound_value": bound,
        "summary": f"{seen}, {CONFIDENCE:.0%} {side} bound {_pct(bound)}",
    }
    evidence: dict[str, Any] = {"rate": info}
    if _meets(op, bound, threshold):
        return RateJudgement("pass", bound, evidence)
    if not _meets(op, rate, threshold):
        return RateJudgement("fail", bound, evidence)
    need = trials_needed(op, threshold)
    cmp = "<" if op in _AT_LEAST else ">"
    evidence["reason"] = (
        f"not enough trials: {seen}: {side} bound {_pct(bound)} {cmp} {shown} "
        f"({CONFIDENCE:.0%} one-sided Wilson"
        + (f"; even a flawless run needs {need} {count.unit})" if need else ")"))
    return RateJudgement("unknown", bound, evidence)


def rate_counts(
    metrics: dict[str, dict[str, Any]], uptime: dict[str, list[int]] | None = None
) -> dict[str, dict[str, list[int]]]:
    """``{phase: {metric: [hits, trials]}}`` for every rate metric with trials.

    Availability and error rate come from each phase block's ``requests`` and its
    ``availability`` (``round(a * n)`` is the ok count exactly: both are integers far
    below 2**52); uptime from the process checker's ``[ready, answered]`` per phase.
    """
    out: dict[str, dict[str, list[int]]] = {}
    for phase, block in metrics.items():
        n, avail = block.get("requests"), block.get("availability")
        if isinstance(n, int) and n > 0 and isinstance(avail, int | float):
            ok = round(avail * n)
            out.setdefault(phase, {}).update(availability=[ok, n], error_rate=[n - ok, n])
    for phase, pair in (uptime or {}).items():
        if pair and pair[1] > 0:
            out.setdefault(phase, {})["uptime"] = [int(pair[0]), int(pair[1])]
    return out
