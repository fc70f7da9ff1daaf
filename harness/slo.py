"""SLO expressions: ``"<op> <number>[%]"`` attached to a metric and a phase.

A scenario's ``[slo.<phase>]`` table maps metric names from
:data:`harness.verify.catalog.METRICS` to threshold expressions::

    [slo.steady]
    availability = ">= 99.9%"      # "%" divides by 100: threshold 0.999
    p99_latency_ms = "< 100"

The op is one of ``< <= > >= == !=``. An SLO's id is ``"<metric>@<phase>"``, the
form a negative control's ``expect_fail`` lists. Parsing is pure and raises
:class:`ValueError`; the scenario loader turns that into a ScenarioError with the
file and key path.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass

from harness.brief import brief

__all__ = ["OPS", "Slo", "compare", "parse_slo", "parse_threshold"]

#: The comparison each op stands for: ``value <op> threshold`` holds means the SLO passes.
OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    ">": operator.gt,
}

#: The longest expression read (">= 99.9%" is 8 characters).
_MAX_TEXT = 64
_EXPR = re.compile(
    r"\s*(?P<op><=|>=|==|!=|<|>)\s*"
    r"(?P<num>[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*(?P<pct>%?)\s*"
)


@dataclass(frozen=True)
class Slo:
    """One objective: ``metric`` judged over ``phase`` with ``value <op> threshold``.

    ``text`` is the expression as written (kept for reports and for writing the scenario
    back); ``threshold`` is the number it means (percentages already divided by 100).
    """

    metric: str
    phase: str
    op: str
    threshold: float
    text: str

    @property
    def id(self) -> str:
        """``"<metric>@<phase>"``, e.g. ``"lost_writes@run"``."""
        return f"{self.metric}@{self.phase}"

    def holds(self, value: float) -> bool:
        """Whether a measured ``value`` meets this objective (NaN never does)."""
        return compare(self.op, value, self.threshold)


def compare(op: str, value: float, threshold: float) -> bool:
    """``value <op> threshold``; a NaN value fails every op (an unmeasured metric is no pass)."""
    if math.isnan(value):
        return False
    return OPS[op](value, threshold)


def parse_threshold(text: object) -> tuple[str, float]:
    """``(op, threshold)`` for an expression such as ``">= 99.9%"`` or ``"== 0"``."""
    if not isinstance(text, str):
        raise ValueError(f'expected a string like "< 100" or ">= 99.9%", got {brief(text)}')
    match = _EXPR.fullmatch(text) if len(text) <= _MAX_TEXT else None
    if match is None:
        raise ValueError(
            f'expected "<op> <number>[%]" with op one of < <= > >= == !=, got {brief(text)}'
        )
    number = float(match["num"])
    if match["pct"]:
        number /= 100.0
    if not math.isfinite(number):
        raise ValueError(f"threshold must be a finite number, got {brief(text)}")
    return match["op"], number


def parse_slo(phase: str, metric: str, text: object) -> Slo:
    """An :class:`Slo` for ``[slo.<phase>] <metric> = <text>``, checked against the catalogue.

    Raises ValueError naming the unknown phase or metric (with a did-you-mean), a metric
    that is not computed for the phase, or a malformed expression.
    """
    # imported here: harness.verify (whose package init imports this module) owns the catalogue
    from harness.verify.catalog import METRICS, PHASE_KINDS, did_you_mean

    if phase not in PHASE_KINDS:
        hint = did_you_mean(phase, PHASE_KINDS)
        raise ValueError(
            f"unknown phase {brief(phase)}; expected one of {', '.join(PHASE_KINDS)}"
            + (f" (did you mean {hint!r}?)" if hint else "")
        )
    spec = METRICS.get(metric)
    if spec is None:
        hint = did_you_mean(metric)
        raise ValueError(
            f"unknown metric {brief(metric)}"
            + (f" (did you mean {hint!r}?)" if hint else "")
            + "; `chaosharness list` shows the metric catalogue"
        )
    if phase not in spec.phases:
        allowed = ", ".join(p for p in PHASE_KINDS if p in spec.phases)
        raise ValueError(f"{metric} is not computed for phase {phase!r}; it is for: {allowed}")
    op, threshold = parse_threshold(text)
    if "%" in str(text) and spec.unit != "fraction":
        raise ValueError(f"{metric} is measured in {spec.unit}; a percentage makes no sense")
    return Slo(metric=metric, phase=phase, op=op, threshold=threshold, text=str(text).strip())
