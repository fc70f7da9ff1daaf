"""``chaosharness trend REPORTS_DIR``: uptime, error budget and regressions over many nights.

Reads every run (and every suite's runs) under REPORTS_DIR, writes ``trend.md`` and
``trend.html`` into ``--out`` (default REPORTS_DIR) and exits 1 when the last night of
any scenario regressed (so CI can page), else 0; 2 when REPORTS_DIR cannot be read or
an option is wrong. ``--json`` prints the machine-readable trend on stdout. The rules
are in :mod:`harness.report.trend_rules`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from harness.errors import ReportError

__all__ = ["add_parsers", "parse_fraction"]


def parse_fraction(text: str) -> float:
    """``99.9%`` or ``0.999`` -> 0.999."""
    raw = text.strip()
    try:
        value = float(raw[:-1]) / 100.0 if raw.endswith("%") else float(raw)
    except ValueError as exc:
        raise ReportError(f"--uptime-slo {text!r}: expected a percentage like 99.9% or a "
                          "fraction like 0.999") from exc
    if value >= 1.0 and not raw.endswith("%") and value < 100.0:
        value /= 100.0  # "99.9" means percent
    return value


def _since(text: str) -> float:
    from harness.scenario.durations import parse_duration

    try:
        return parse_duration(text)
    except ValueError as exc:
        raise ReportError(f"--since: {exc}") from exc


def cmd_trend(args: argparse.Namespace) -> int:
    from harness.report.trend import build_trend, trend_json
    from harness.report.trend_render import render_trend

    trend = build_trend(Path(args.reports_dir), _since(args.since), parse_fraction(args.uptime_slo))
    outputs = render_trend(trend, Path(args.out) if args.out else Path(args.reports_dir))
    doc = trend_json(trend, outputs)
    if args.json:
        print(json.dumps(doc, indent=2))
        return trend.exit_code
    for ep in trend.ongoing:
        print(f"REGRESSION {ep.scenario} {ep.rule}: since {ep.first.started.isoformat()} "
              f"({ep.first.run_dir}): {ep.flags[-1].reason}")
        if ep.compare_command:
            print(f"  {ep.compare_command}")
    for skipped in trend.skipped:
        print(f"skipped {skipped.path}: {skipped.reason}")
    nights = sum(len(v) for v in trend.scenarios.values())
    print(f"{nights} nights of {len(trend.scenarios)} scenarios; exit code {trend.exit_code}")
    for path in outputs[:2]:
        print(path)
    return trend.exit_code


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("trend", help="uptime, error budget and regressions over many nights of "
                                     "runs and suites (exit 1: the last night regressed)")
    p.add_argument("reports_dir", type=Path, help="the directory the nightly runs write into")
    p.add_argument("--since", default="30d",
                   help="only nights that started within this span of the last one (default 30d)")
    p.add_argument("--out", type=Path, default=None,
                   help="where trend.md and trend.html go (default REPORTS_DIR)")
    p.add_argument("--uptime-slo", default="99.9%",
                   help="the uptime SLO of the steady phases (default 99.9%%)")
    p.add_argument("--json", action="store_true", help="print the machine-readable trend on stdout")
    p.set_defaults(func=cmd_trend)
