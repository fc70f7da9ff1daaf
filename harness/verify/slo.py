"""Evaluate a scenario's SLOs against the computed metrics.

Expressions are parsed by :mod:`harness.slo` (shared with the scenario loader). Here
each SLO becomes a verdict:

* ``pass`` / ``fail`` from ``value <op> threshold``;
* ``unknown`` when the metric could not be measured (``None``: no final read, no
  samples, a fault that did not apply): never a pass;
* ``fail`` without a value when a checker proved the opposite of what was asked
  (a fault that never recovered has no recovery time, but it certainly broke
  ``recovery_seconds < 5``): ``forced`` carries the reason;
* ``unknown`` also when a measured value is no evidence (``unknown`` carries why: a
  memory slope over a minute cannot tell a leak from the allocator warming up);
* a metric measured with an interval (the memory slope) is judged by the end of the
  interval that gives the benefit of the doubt: the lower bound against ``<``/``<=``,
  the upper bound against ``>``/``>=``. A leak is thus only called when even the
  lower bound of its 95 % interval is over the threshold;
* a rate with counted trials (``rates``: availability, error rate, uptime) the other
  way round: it passes only when its confidence bound meets the threshold, and with
  too few trials for that it is ``unknown`` (:mod:`harness.verify.confidence`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.slo import Slo, compare
from harness.verify.confidence import RATE_METRICS, RateCount, judge_rate

__all__ = ["Judgement", "evaluate_slo", "evaluate_slos"]

Bounds = Mapping[tuple[str, str], tuple[float, float]]
#: ``{phase: {metric: [hits, trials]}}``, as :func:`harness.verify.confidence.rate_counts`.
Rates = Mapping[str, Mapping[str, list[int]]]


@dataclass
class Judgement:
    """Everything result.json says about one SLO."""

    slo: Slo
    value: float | None
    verdict: str
    judged_value: float | None = None
    evidence: dict[str, object] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.slo.id, "name": self.slo.metric, "phase": self.slo.phase,
            "op": self.slo.op, "threshold": self.slo.threshold, "threshold_text": self.slo.text,
            "value": self.value, "judged_value": self.judged_value,
            "verdict": self.verdict, "evidence": self.evidence,
        }


def evaluate_slo(
    slo: Slo,
    metrics: Mapping[str, Mapping[str, Any]],
    bounds: Bounds | None = None,
    forced: Mapping[tuple[str, str], str] | None = None,
    unknown: Mapping[tuple[str, str], str] | None = None,
    rates: Rates | None = None,
) -> Judgement:
    """One SLO's verdict (see the module docstring for the rules)."""
    key = (slo.metric, slo.phase)
    value = metrics.get(slo.phase, {}).get(slo.metric)
    if forced and key in forced:
        return Judgement(slo, _num(value), "fail", None, {"reason": forced[key]})
    if unknown and key in unknown:
        return Judgement(slo, _num(value), "unknown", None, {"reason": unknown[key]})
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return Judgement(slo, None, "unknown", None, {"reason": f"{slo.metric} was not measured"
                                                      f" for phase {slo.phase}"})
    pair = (rates or {}).get(slo.phase, {}).get(slo.metric)
    if pair and slo.op not in ("==", "!=") and slo.metric in RATE_METRICS:
        count = RateCount(int(pair[0]), int(pair[1]), RATE_METRICS[slo.metric])
        rated = judge_rate(slo.op, slo.threshold, count)
        return Judgement(slo, float(value), rated.verdict, rated.judged, rated.evidence)
    judged = float(value)
    if bounds and key in bounds:
        low, high = bounds[key]
        judged = low if slo.op in ("<", "<=") else high if slo.op in (">", ">=") else judged
    verdict = "pass" if compare(slo.op, judged, slo.threshold) else "fail"
    return Judgement(slo, float(value), verdict, judged)


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def evaluate_slos(
    slos: tuple[Slo, ...] | list[Slo],
    metrics: Mapping[str, Mapping[str, Any]],
    bounds: Bounds | None = None,
    forced: Mapping[tuple[str, str], str] | None = None,
    unknown: Mapping[tuple[str, str], str] | None = None,
    rates: Rates | None = None,
) -> list[Judgement]:
    """Every SLO's judgement, in the scenario's order."""
    return [evaluate_slo(s, metrics, bounds, forced, unknown, rates) for s in slos]
