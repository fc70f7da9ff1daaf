"""The seeds' success metrics: the before/after table (naive vs resilient profile).

``chaosharness suite seed-metrics`` runs both profiles through the scenarios that
measure what the seeds promise; this module reads that suite's ``suite.json`` and
each run's ``result.json`` and `run.json`, and writes ``seed-metrics.md`` (the
README's headline) and ``seed-metrics.html``. One row per promise: the measured
value of each profile (the worst over the profile's runs, with the scenario it
came from), the target, and a verdict. A row with no data says "not measured";
it is never counted as met. Rate rows (startup success, uptime, failure rate) are
judged on a confidence bound (:mod:`harness.report.seed_rates`): too few trials say
"not enough trials", never pass. Uptime counts the steady phases only: warm-up,
faults and recoveries are not meant to be available.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, replace
from pathlib import Path

from harness.errors import ScenarioError
from harness.records import RecordError, ResultRecord, RunInfo
from harness.report.html import html_page, html_table
from harness.report.markdown import md_table
from harness.report.rundata import read_scrubbed
from harness.report.scrub import Scrubber
from harness.report.seed_rates import is_rate_row, judge_count, worst_run
from harness.report.suite_runs import SuiteRun, load_suite_runs
from harness.report.tables import Table, fmt_value
from harness.scenario.loader import load_recorded
from harness.slo import compare
from harness.verify.confidence import RateCount

__all__ = ["SEED_ROWS", "Measured", "SeedRow", "base_scenario", "measure_row", "profile_of",
           "render_seed_metrics", "seed_table"]

#: The reference app's profile when a scenario names none (ARCHITECTURE.md, "Profiles").
DEFAULT_PROFILE = "resilient"

@dataclass(frozen=True)
class SeedRow:
    """One promise: which metrics measure it, in which phase, and its target."""

    label: str
    target: str
    metrics: tuple[str, ...]
    phase: str
    op: str
    threshold: float
    prefer: tuple[str, ...] = ()   # scenarios that measure it best, when the profile ran them
    special: str = ""  # "startup", "load-10x", "recovery": computed from the runs themselves


SEED_ROWS: tuple[SeedRow, ...] = (
    SeedRow("Heap growth over the soak", "stable: < 50 MB/h", ("memory_growth_mb_per_hour",),
            "run", "<", 50.0, ("soak",)),
    SeedRow("Peak RSS", "< 4 GB", ("peak_rss_mb",), "run", "<", 4096.0),
    SeedRow("Memory warnings per hour", "< 5", ("memory_warnings_per_hour",), "run", "<", 5.0,
            ("soak",)),
    SeedRow("Connection errors per minute (steady)", "< 1 per hour (< 0.0167/min)",
            ("connection_errors_per_minute",), "steady", "<", 1.0 / 60.0),
    SeedRow("Schema errors", "0", ("schema_errors",), "run", "==", 0.0),
    SeedRow("Query failure rate (steady)", "< 0.1%", ("error_rate",), "steady", "<", 0.001),
    SeedRow("p99 latency (steady)", "< 100 ms", ("p99_latency_ms",), "steady", "<", 100.0),
    SeedRow("Recovery after a database outage", "< 1 min (ours: < 5 s)",
            ("recovery_seconds",), "run", "<", 5.0, special="recovery"),
    SeedRow("Unhandled errors per hour", "0", ("unhandled_errors", "stderr_unhandled_errors"),
            "run", "==", 0.0),
    SeedRow("Lost acknowledged writes", "0", ("lost_writes",), "run", "==", 0.0),
    SeedRow("Crashes", "0", ("crashes",), "run", "==", 0.0),
    SeedRow("Startup success rate", ">= 99%", (), "run", ">=", 0.99, special="startup"),
    SeedRow("Uptime (steady)", ">= 99.9%", ("uptime",), "steady", ">=", 0.999, ("soak",)),
    SeedRow("Load 10x expected traffic held", "every SLO passes", (), "run", "==", 1.0,
            ("load-10x",), special="load-10x"),
)


@dataclass(frozen=True)
class Measured:
    """A profile's figure for one row: value (None: not measured), verdict, where from."""

    value: float | None
    verdict: str
    source: str
    text: str


def profile_of(run: SuiteRun, scrub: Scrubber) -> str:
    """The run's profile: the suite entry, result.json, run.json, scenario.toml, else the
    reference app's default, ``resilient`` (a run that never started records none)."""
    if run.entry.get("profile"):
        return str(run.entry["profile"])
    if run.result is not None and run.result.profile:
        return run.result.profile
    if run.run_dir is not None:
        run_json = run.run_dir / "run.json"
        if run_json.is_file():
            try:
                info = RunInfo.from_json(read_scrubbed(run_json, scrub), str(run_json))
            except RecordError:  # a profile is only a label: look further
                info = RunInfo()
            if info.profile:
                return info.profile
        toml_path = run.run_dir / "scenario.toml"
        if toml_path.is_file():
            try:  # the scenario as run, through the loader; one that does not load names none
                return load_recorded(toml_path).target.profile or DEFAULT_PROFILE
            except ScenarioError:
                pass
    return DEFAULT_PROFILE


def _metric(result: ResultRecord | None, name: str, phase: str) -> float | None:
    value = result.metric(name, phase) if result else None
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _judge(row: SeedRow, value: float | None, source: str, text: str | None = None) -> Measured:
    if value is None:
        return Measured(None, "not measured", "", "not measured")
    ok = compare(row.op, value, row.threshold)
    shown = text if text is not None else fmt_value(row.metrics[0] if row.metrics else "", value)
    return Measured(value, "pass" if ok else "fail", source, shown)


def base_scenario(name: str) -> str:
    """A scenario's name without a profile prefix (``naive-db-restart`` -> ``db-restart``)."""
    for prefix in ("naive-", "resilient-"):
        if name.startswith(prefix):
            return name[len(prefix):]
    return name


def _never_recovered(runs: list[SuiteRun]) -> str | None:
    """The first scenario with an applied fault the service never recovered from."""
    for run in runs:
        for fault in run.result.faults if run.result else ():
            if fault.ok and fault.recovered is False:
                return run.scenario
    return None


def _special(row: SeedRow, runs: list[SuiteRun]) -> Measured:
    if row.special == "recovery":
        stuck = _never_recovered(runs)
        if stuck is not None:
            return Measured(math.inf, "fail", stuck, "did not recover")
        return measure_row(replace(row, special=""), runs)
    if row.special == "startup":
        judged = [r for r in runs if r.result is not None]
        if not judged:
            return _judge(row, None, "")
        started = [r for r in judged if _metric(r.result, "startup_seconds", "run") is not None]
        verdict, _, words = judge_count(row.op, row.threshold,
                                        RateCount(len(started), len(judged), "runs"))
        return Measured(len(started) / len(judged), verdict, "", words)
    named = [r for r in runs if base_scenario(r.scenario) in row.prefer]
    chosen = [r for r in named if r.result is not None]
    if not chosen:
        why = next((r.problem for r in named if r.problem), "")
        return Measured(None, "not measured", "", f"not measured ({why})" if why else
                        "not measured")
    held = all(r.verdict == "pass" for r in chosen)
    return _judge(row, 1.0 if held else 0.0, ", ".join(r.scenario for r in chosen),
                  "held" if held else "not held")


def measure_row(row: SeedRow, runs: list[SuiteRun]) -> Measured:
    """The worst value of ``row`` over ``runs`` (preferring its named scenarios), judged."""
    if row.special:
        return _special(row, runs)
    if is_rate_row(row.metrics, row.op):
        return _rate_row(row, runs)
    return _worst_value(row, runs)


def _worst_value(row: SeedRow, runs: list[SuiteRun]) -> Measured:
    preferred = [r for r in runs if base_scenario(r.scenario) in row.prefer]
    pool = preferred if any(_has(row, r) for r in preferred) else runs
    worst: tuple[float, str] | None = None
    for run in pool:
        for name in row.metrics:
            value = _metric(run.result, name, row.phase)
            if value is None:
                continue
            better = worst is None or (value < worst[0] if row.op == ">=" else value > worst[0])
            if better:
                worst = (value, run.scenario)
    if worst is None:
        return _judge(row, None, "")
    return _judge(row, worst[0], worst[1])


def _rate_row(row: SeedRow, runs: list[SuiteRun]) -> Measured:
    """A rate row: the run with the worst bound (preferring the row's scenarios), judged on
    its bound; a figure without its trials (an older result.json) cannot pass."""
    metric = row.metrics[0]
    preferred = [r for r in runs if base_scenario(r.scenario) in row.prefer]
    found = worst_run(preferred, metric, row.phase, row.op, row.threshold) or \
        worst_run(runs, metric, row.phase, row.op, row.threshold)
    if found is None:
        plain = _worst_value(row, runs)
        if plain.value is None:
            return plain
        return Measured(plain.value, "unknown", plain.source,
                        f"{fmt_value(metric, plain.value)} (trials not recorded: no bound)")
    run, count = found
    verdict, _, words = judge_count(row.op, row.threshold, count)
    return Measured(count.hits / count.trials, verdict, run.scenario, words)


def _has(row: SeedRow, run: SuiteRun) -> bool:
    return any(_metric(run.result, name, row.phase) is not None for name in row.metrics)


def _profiles(by_profile: dict[str, list[SuiteRun]]) -> list[str]:
    order = [p for p in ("naive", "resilient") if p in by_profile]
    return order + sorted(p for p in by_profile if p not in order)


def seed_table(by_profile: dict[str, list[SuiteRun]]) -> Table:
    """Rows: promise, target, then value (with its scenario) and verdict per profile."""
    profiles = _profiles(by_profile)
    header = ["seed metric", "target"]
    for profile in profiles:
        header += [f"{profile}", f"{profile} verdict"]
    table = Table("Seed metrics: before / after", header)
    for row in SEED_ROWS:
        cells = [row.label, row.target]
        last = ""
        for profile in profiles:
            got = measure_row(row, by_profile[profile])
            where = f" ({got.source})" if got.source else ""
            cells += [got.text + where, got.verdict]
            last = got.verdict
        status = last if last in ("pass", "fail") else "unknown"
        table.add(cells, status)
    return table


def render_seed_metrics(suite_dir: Path, secrets: tuple[str, ...] = ()) -> Path:
    """Write ``seed-metrics.md`` and ``seed-metrics.html`` into ``suite_dir``; return the .md."""
    suite_dir = Path(suite_dir)
    scrub = Scrubber(secrets)
    name, runs = load_suite_runs(suite_dir, [], scrub)
    by_profile: dict[str, list[SuiteRun]] = {}
    for run in runs:
        by_profile.setdefault(profile_of(run, scrub), []).append(run)
    table = seed_table(by_profile)
    table.note = ("Each value is the worst over the profile's runs, with the scenario it came "
                  "from; 'not measured' means no run of that profile produced the figure. "
                  "Rates pass only when their one-sided 95% Wilson bound meets the target "
                  "('not enough trials' when only the observed rate does). "
                  f"Suite: {name}; regenerate with `chaosharness suite seed-metrics`.")
    md_path = suite_dir / "seed-metrics.md"
    md = f"# Seed metrics: before (naive) and after (resilient)\n\n{md_table(table)}"
    md_path.write_text(scrub.text(md), encoding="utf-8")
    body = (f"<h1>Seed metrics: before and after ({html.escape(name)})</h1>"
            f"{html_table(table)}")
    (suite_dir / "seed-metrics.html").write_text(
        scrub.text(html_page("seed metrics", body)), encoding="utf-8")
    return md_path
