"""The trend's judgements over nights: regressions against a rolling baseline, and uptime.

Pure: nothing here reads a file or the clock. A :class:`Night` is one run as
:mod:`harness.report.trend_data` read it; the functions take a scenario's nights in
start order and say which regressed, and how much of an uptime SLO's error budget
the nights spent.

Regression rules (the numbers are :class:`Rules`' defaults):

- ``verdict``: the night is not as expected (a pass that became a fail, or a negative
  control that stopped failing) while the judged night before it was as expected. A
  scenario that was never as expected has no flip to flag.
- ``recovery``: the night's worst recovery (``metrics.run.recovery_seconds``, else the
  largest ``faults[].recovery_s``; a fault that never recovered counts as infinite) is
  more than 2x the median of the baseline *and* at least 0.5 s above it (sub-second
  recoveries jitter by multiples).
- ``p99@<phase>``: ``metrics[phase].p99_latency_ms`` more than 2x the median of the
  baseline and at least 5 ms above it, for the steady, fault and recovery phases
  (warm-up is cold-start noise; ``run`` is the mix of the others).
- ``memory``: the RSS slope (``memory.slope_mb_per_hour``) above the earlier nights'
  band, the largest upper 95 % bound (``memory.ci95[1]``, the slope itself when an old
  result.json has no interval) of the baseline nights. Only nights whose trend verify
  judged count (``memory.leak`` not null: 120 s of samples or more); a shorter run's
  slope is noise.

The *baseline* of a night for a rule is the up to 7 most recent earlier nights that
have a value for it and were not themselves flagged by it, and a rule says nothing
until 3 such nights exist. Leaving flagged nights out keeps a regression from
becoming its own baseline: it stays flagged every night until it is fixed.

An *episode* is a run of consecutive flagged nights (nights with no value for the rule
neither break nor extend it). It *began* on its first night; its *last good* night is
the one before, the A of ``chaosharness compare``. It is *ongoing* when its last night
is the scenario's last night: that is what makes ``trend`` exit 1.

Uptime (:func:`uptime_window`): only steady time is meant to be available (warm-up
is before the service is judged; fault and recovery windows are outages the scenario
causes on purpose). Per night, steady minutes = the summed length of its ``steady``
phases, down minutes = steady minutes x (1 - fraction up), the fraction being the
steady phase's ``uptime`` (samples with readiness 200), else its ``availability`` (ok
requests) for a target without probes. The error budget over a window is (1 - SLO) x
the steady minutes observed in it; spent is the down minutes. Negative controls
(``expect = "fail"``) are left out of the totals: they are meant to be down.
"""

from __future__ import annotations

import math
import shlex
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

__all__ = [
    "DEFAULT_RULES",
    "Episode",
    "Night",
    "Rules",
    "find_regressions",
    "flags_for",
    "rule_names",
    "uptime_window",
]


@dataclass
class Night:
    """One run of a scenario, reduced to the figures the trend follows (None: not measured)."""

    scenario: str
    run_dir: Path
    started: datetime
    run_status: str = "complete"
    judged: bool = True  # a result.json of a complete run
    verdict: str = "unknown"
    expect: str = "pass"
    as_expected: bool | None = None
    profile: str | None = None
    suite: str | None = None
    availability: dict[str, float | None] = field(default_factory=dict)  # by phase kind
    recovery_s: float | None = None  # math.inf: a fault never recovered
    detect_s: float | None = None
    p99_ms: dict[str, float | None] = field(default_factory=dict)  # by phase kind
    lost_writes: int | None = None
    duplicated_writes: int | None = None
    mem_slope: float | None = None
    mem_ci: tuple[float, float] | None = None
    mem_judged: bool = False
    peak_rss_bytes: float | None = None
    steady_s: float | None = None
    steady_up: float | None = None
    steady_up_from: str | None = None  # "uptime" | "availability"
    notes: list[str] = field(default_factory=list)

    @property
    def negative_control(self) -> bool:
        """A scenario that is meant to fail (it is meant to be down, too)."""
        return self.expect == "fail"


@dataclass(frozen=True)
class Rules:
    """The regression rules' parameters (see the module docstring)."""

    window: int = 7
    min_baseline: int = 3
    recovery_factor: float = 2.0
    recovery_floor_s: float = 0.5
    p99_factor: float = 2.0
    p99_floor_ms: float = 5.0
    p99_phases: tuple[str, ...] = ("steady", "fault", "recovery")


#: The rules as documented above.
DEFAULT_RULES = Rules()


@dataclass
class Flag:
    """One night flagged by one rule: its value, the baseline figure and why."""

    index: int
    value: float | None
    baseline: float | None
    reason: str


@dataclass
class Episode:
    """Consecutive nights flagged by one rule."""

    scenario: str
    rule: str
    flags: list[Flag]
    first: Night
    last: Night
    last_good: Night | None
    ongoing: bool

    @property
    def compare_command(self) -> str | None:
        """``chaosharness compare <last good> <first bad>``, when there is a good night."""
        if self.last_good is None:
            return None
        return (f"chaosharness compare {shlex.quote(str(self.last_good.run_dir))} "
                f"{shlex.quote(str(self.first.run_dir))}")

    def to_json(self) -> dict[str, object]:
        """The episode as ``trend --json`` prints it."""
        first, last = self.flags[0], self.flags[-1]
        return {
            "scenario": self.scenario, "rule": self.rule, "ongoing": self.ongoing,
            "began": self.first.started.isoformat(), "began_run_dir": str(self.first.run_dir),
            "last_flagged": self.last.started.isoformat(),
            "last_flagged_run_dir": str(self.last.run_dir), "nights": len(self.flags),
            "last_good_run_dir": str(self.last_good.run_dir) if self.last_good else None,
            "compare": self.compare_command,
            "reason": first.reason, "latest_reason": last.reason,
            "value": _finite(first.value), "baseline": _finite(first.baseline),
        }


def _finite(value: float | None) -> float | None:
    return value if value is None or math.isfinite(value) else None


def _fmt(value: float, unit: str) -> str:
    return "never recovered" if math.isinf(value) else f"{value:.3g}{unit}"


# ---- metric rules: a value per night, a test against the baseline's values --------------

Test = Callable[[float, list[tuple[float, float]]], tuple[bool, float, str]]
Value = Callable[[Night], tuple[float, float] | None]  # (value, band value) or None


def _median_test(factor: float, floor: float, unit: str, what: str) -> Test:
    def test(value: float, base: list[tuple[float, float]]) -> tuple[bool, float, str]:
        median = statistics.median(v for v, _ in base)
        bad = value > factor * median and value - median >= floor
        return bad, median, (f"{what} {_fmt(value, unit)} > {factor:g}x the median "
                             f"{_fmt(median, unit)} of the previous {len(base)} good nights")
    return test


def _band_test(value: float, base: list[tuple[float, float]]) -> tuple[bool, float, str]:
    upper = max(u for _, u in base)
    return value > upper, upper, (f"memory slope {value:.3g} MB/h above the earlier nights' "
                                  f"band (largest upper 95% bound {upper:.3g} MB/h of "
                                  f"{len(base)} nights)")


def _recovery(n: Night) -> tuple[float, float] | None:
    return None if n.recovery_s is None or not n.judged else (n.recovery_s, n.recovery_s)


def _p99(phase: str) -> Value:
    def value(n: Night) -> tuple[float, float] | None:
        v = n.p99_ms.get(phase)
        return None if v is None or not n.judged else (v, v)
    return value


def _memory(n: Night) -> tuple[float, float] | None:
    if not n.judged or not n.mem_judged or n.mem_slope is None:
        return None
    upper = n.mem_ci[1] if n.mem_ci is not None else n.mem_slope
    return n.mem_slope, upper


def _metric_rules(rules: Rules) -> dict[str, tuple[Value, Test]]:
    out: dict[str, tuple[Value, Test]] = {
        "recovery": (_recovery, _median_test(rules.recovery_factor, rules.recovery_floor_s,
                                             " s", "recovery")),
    }
    for phase in rules.p99_phases:
        out[f"p99@{phase}"] = (_p99(phase), _median_test(rules.p99_factor, rules.p99_floor_ms,
                                                         " ms", f"p99 ({phase})"))
    out["memory"] = (_memory, _band_test)
    return out


def rule_names(rules: Rules = DEFAULT_RULES) -> list[str]:
    """Every rule, in report order."""
    return ["verdict", *_metric_rules(rules)]


def _metric_flags(nights: Sequence[Night], value_of: Value, test: Test,
                  rules: Rules) -> tuple[list[Flag], list[int]]:
    """Flags, and the indices of the nights that had a value (the rule's own sequence)."""
    good: list[tuple[float, float]] = []
    flags: list[Flag] = []
    valued: list[int] = []
    for i, night in enumerate(nights):
        pair = value_of(night)
        if pair is None:
            continue
        valued.append(i)
        base = good[-rules.window:]
        if len(base) >= rules.min_baseline:
            bad, figure, reason = test(pair[0], base)
            if bad:
                flags.append(Flag(i, pair[0], figure, reason))
                continue
        good.append(pair)
    return flags, valued


def _verdict_flags(nights: Sequence[Night]) -> tuple[list[Flag], list[int]]:
    flags: list[Flag] = []
    valued: list[int] = []
    seen_good = False
    for i, night in enumerate(nights):
        if not night.judged or night.as_expected is None:
            continue
        valued.append(i)
        if night.as_expected:
            seen_good = True
        elif seen_good:
            flags.append(Flag(i, None, None,
                              f"verdict {night.verdict} where {night.expect} is expected "
                              "(not as expected) after an as-expected night"))
    return flags, valued


def flags_for(nights: Sequence[Night], rule: str,
              rules: Rules = DEFAULT_RULES) -> tuple[list[Flag], list[int]]:
    """One rule's flagged nights, and the nights it could judge (indices into ``nights``)."""
    if rule == "verdict":
        return _verdict_flags(nights)
    value_of, test = _metric_rules(rules)[rule]
    return _metric_flags(nights, value_of, test, rules)


def _episodes(nights: Sequence[Night], rule: str, flags: list[Flag],
              valued: list[int]) -> list[Episode]:
    by_index = {f.index: f for f in flags}
    out: list[Episode] = []
    run: list[Flag] = []
    before: int | None = None  # the last valued, unflagged night before the current run
    for pos in [*valued, None]:
        if pos is not None and pos in by_index:
            run.append(by_index[pos])
            continue
        if run:
            last_valued = valued[-1] if valued else -1
            out.append(Episode(
                scenario=nights[run[0].index].scenario, rule=rule, flags=run,
                first=nights[run[0].index], last=nights[run[-1].index],
                last_good=nights[before] if before is not None else None,
                ongoing=run[-1].index == last_valued and last_valued == len(nights) - 1))
            run = []
        before = pos
    return out


def find_regressions(nights: Sequence[Night], rules: Rules = DEFAULT_RULES) -> list[Episode]:
    """Every regression episode of one scenario's nights (in start order), by rule order.

    An episode is ``ongoing`` only when it reaches the scenario's very last night: a
    last night that a rule could not judge (it did not run, or had no figure) ends
    nothing and pages nobody for that rule.
    """
    out: list[Episode] = []
    for rule in rule_names(rules):
        flags, valued = flags_for(nights, rule, rules)
        out.extend(_episodes(nights, rule, flags, valued))
    return out


# ---- uptime ------------------------------------------------------------------------------


def uptime_window(nights: Sequence[Night], start: datetime, end: datetime,
                  slo: float) -> dict[str, object]:
    """Uptime and error budget of the nights that started in ``[start, end]``.

    Minutes are steady minutes (see the module docstring). ``budget_used`` is spent /
    budget (1.0 = the whole budget; None when nothing was observed).
    """
    steady_min = down_min = 0.0
    counted = unmeasured = 0
    for n in nights:
        if not (start <= n.started <= end) or not n.judged or n.negative_control:
            continue
        if n.steady_s is None or n.steady_up is None:
            unmeasured += 1
            continue
        counted += 1
        minutes = n.steady_s / 60.0
        steady_min += minutes
        down_min += minutes * (1.0 - n.steady_up)
    budget = (1.0 - slo) * steady_min
    uptime = 1.0 - down_min / steady_min if steady_min > 0 else None
    used = down_min / budget if budget > 0 else None
    return {"from": start.isoformat(), "to": end.isoformat(), "slo": slo, "nights": counted,
            "not_measured": unmeasured, "steady_minutes": steady_min, "down_minutes": down_min,
            "uptime": uptime, "budget_minutes": budget, "spent_minutes": down_min,
            "budget_used": used,
            "met": None if uptime is None else uptime >= slo}
