"""``chaosharness trend``: the nights of a reports directory, their uptime and regressions.

Collects the runs (:mod:`harness.report.trend_data`), groups them by scenario (and by
profile too when one scenario ran under several, so a naive run is never the
baseline of a resilient one), orders each scenario's nights by their start time,
judges them (:mod:`harness.report.trend_rules`: the rules and the uptime rule are
described there); :mod:`harness.report.trend_render` writes ``trend.md`` and
``trend.html`` from the result, and :func:`trend_json` is what ``--json`` prints.

Time windows are measured back from the *last night's* start, not from the wall
clock, so the same directory always renders the same trend (a copy included):
``--since`` keeps the nights that started within that span of it, and the uptime
windows are the 7 and 30 days up to it.

Exit code: 1 when the last night of any scenario is flagged by a rule (an ongoing
regression: CI pages), else 0; a regression that has already ended is reported and
does not page.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from harness import exitcodes
from harness.errors import ReportError
from harness.report.trend_data import Skipped, collect
from harness.report.trend_rules import (
    DEFAULT_RULES,
    Episode,
    Night,
    Rules,
    find_regressions,
    uptime_window,
)

__all__ = ["UPTIME_WINDOWS_DAYS", "Trend", "build_trend", "flagged_rules", "night_json", "trend_json"]

UPTIME_WINDOWS_DAYS = (7, 30)


@dataclass
class Trend:
    """Everything the trend's documents say, grouped by scenario."""

    reports_dir: Path
    since_s: float
    slo: float
    rules: Rules
    as_of: datetime | None
    scenarios: dict[str, list[Night]] = field(default_factory=dict)
    episodes: dict[str, list[Episode]] = field(default_factory=dict)
    uptime: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # key|"all"
    skipped: list[Skipped] = field(default_factory=list)
    excluded: int = 0  # nights older than --since

    @property
    def ongoing(self) -> list[Episode]:
        """The regressions on a scenario's last night."""
        return [e for eps in self.episodes.values() for e in eps if e.ongoing]

    @property
    def exit_code(self) -> int:
        return exitcodes.VERDICT if self.ongoing else exitcodes.OK


def _group(nights: list[Night]) -> dict[str, list[Night]]:
    profiles: dict[str, set[str | None]] = defaultdict(set)
    for n in nights:
        profiles[n.scenario].add(n.profile)
    groups: dict[str, list[Night]] = defaultdict(list)
    for n in nights:
        key = n.scenario if len(profiles[n.scenario]) == 1 else f"{n.scenario} ({n.profile})"
        groups[key].append(n)
    return {k: sorted(v, key=lambda n: (n.started, str(n.run_dir))) for k, v in
            sorted(groups.items())}


def _uptimes(nights: list[Night], as_of: datetime, slo: float) -> dict[str, dict[str, Any]]:
    return {f"{days}d": uptime_window(nights, as_of - timedelta(days=days), as_of, slo)
            for days in UPTIME_WINDOWS_DAYS}


def build_trend(reports_dir: Path, since_s: float = 30 * 86400.0, slo: float = 0.999,
                rules: Rules = DEFAULT_RULES) -> Trend:
    """Collect and judge the nights of ``reports_dir``; nothing is written."""
    reports_dir = Path(reports_dir)
    if not reports_dir.is_dir():
        raise ReportError(f"{reports_dir}: no such directory (give the reports directory the "
                          "nightly runs write into)")
    if not 0.0 < slo < 1.0:
        raise ReportError(f"--uptime-slo {slo}: expected a fraction between 0 and 1 (99.9% "
                          "is 0.999 or 99.9%)")
    found = collect(reports_dir)
    as_of = max((n.started for n in found.nights), default=None)
    trend = Trend(reports_dir, since_s, slo, rules, as_of, skipped=found.skipped)
    if as_of is None:
        return trend
    start = as_of - timedelta(seconds=since_s)
    nights = [n for n in found.nights if n.started >= start]
    trend.excluded = len(found.nights) - len(nights)
    trend.scenarios = _group(nights)
    for key, group in trend.scenarios.items():
        trend.episodes[key] = find_regressions(group, rules)
        trend.uptime[key] = _uptimes(group, as_of, slo)
    trend.uptime["all"] = _uptimes(nights, as_of, slo)
    return trend


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def night_json(n: Night, flagged: list[str]) -> dict[str, Any]:
    """One night as ``--json`` prints it (a fault that never recovered: ``recovered`` false)."""
    return _clean({
        "run_dir": str(n.run_dir), "started": n.started.isoformat(), "suite": n.suite,
        "profile": n.profile, "run_status": n.run_status, "judged": n.judged,
        "verdict": n.verdict, "expect": n.expect, "as_expected": n.as_expected,
        "availability": n.availability, "recovery_s": n.recovery_s,
        "recovered": None if n.recovery_s is None else math.isfinite(n.recovery_s),
        "detect_s": n.detect_s, "p99_ms": n.p99_ms, "lost_writes": n.lost_writes,
        "duplicated_writes": n.duplicated_writes, "memory_slope_mb_per_hour": n.mem_slope,
        "memory_ci95": list(n.mem_ci) if n.mem_ci else None, "memory_judged": n.mem_judged,
        "peak_rss_bytes": n.peak_rss_bytes, "steady_s": n.steady_s, "steady_up": n.steady_up,
        "steady_up_from": n.steady_up_from, "flags": flagged, "notes": n.notes,
    })


def flagged_rules(trend: Trend, key: str) -> dict[Path, list[str]]:
    """Run directory -> the rules that flagged that night."""
    out: dict[Path, list[str]] = defaultdict(list)
    for ep in trend.episodes.get(key, []):
        for flag in ep.flags:
            out[trend.scenarios[key][flag.index].run_dir].append(ep.rule)
    return out


def trend_json(trend: Trend, outputs: list[Path]) -> dict[str, Any]:
    """The machine-readable trend (``--json``)."""
    scenarios = {}
    for key, nights in trend.scenarios.items():
        flags = flagged_rules(trend, key)
        eps = trend.episodes.get(key, [])
        scenarios[key] = {
            "nights": [night_json(n, flags.get(n.run_dir, [])) for n in nights],
            "uptime": _clean(trend.uptime.get(key, {})),
            "regressions": [e.to_json() for e in eps],
            "last_night_regressed": any(e.ongoing for e in eps),
        }
    return {
        "reports_dir": str(trend.reports_dir),
        "as_of": trend.as_of.isoformat() if trend.as_of else None,
        "since_s": trend.since_s, "uptime_slo": trend.slo,
        "nights_before_since": trend.excluded,
        "uptime": _clean(trend.uptime.get("all", {})),
        "scenarios": scenarios,
        "regressions": [e.to_json() for eps in trend.episodes.values() for e in eps],
        "ongoing": [e.to_json() for e in trend.ongoing],
        "skipped": [{"path": str(s.path), "reason": s.reason} for s in trend.skipped],
        "outputs": [str(p) for p in outputs],
        "exit_code": trend.exit_code,
    }
