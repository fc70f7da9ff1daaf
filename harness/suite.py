"""Suites: run scenarios in order into one suite directory, never stopping early on a failure.

Ctrl-C or SIGTERM stops a suite (:mod:`harness.stop`): the scenario under way is wound down and
marked ``incomplete``, no further one starts (``suite.json`` lists them under ``not_run``), the
summary is written with what ran, and the suite exits 2.

``suite.json`` (in ``reports/<utc>-suite-<name>/``) lists every run with what it
expected, its verdict and its exit code; the report stage renders ``summary.md``,
``summary.html`` and one ``junit.xml`` for the whole suite from it.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from pathlib import Path

from harness import exitcodes
from harness.clock import wall
from harness.errors import HarnessError, ScenarioError
from harness.run import RunOutcome, run_scenario
from harness.rundir import new_run_dir
from harness.scenario.suite import Suite, SuiteEntry, list_suites, load_suite
from harness.stop import StopRequest

__all__ = ["SuiteOutcome", "find_suite", "run_suite"]

SCENARIO_DIR = Path("scenarios")


class SuiteOutcome:
    """The suite directory, each run's outcome, and the suite's exit code."""

    def __init__(self, suite_dir: Path, runs: list[RunOutcome], exit_code: int,
                 stopped_by: str | None = None, not_run: list[str] | None = None) -> None:
        self.suite_dir = suite_dir
        self.runs = runs
        self.exit_code = exit_code
        self.stopped_by = stopped_by  # the signal that stopped the suite, if one did
        self.not_run = not_run or []  # the scenario files a stop kept from starting


def find_suite(name_or_path: str, scenario_dir: Path = SCENARIO_DIR) -> Path:
    """A suite by file path or by name in ``scenarios/suites``."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    candidate = scenario_dir / "suites" / f"{name_or_path}.toml"
    if candidate.is_file():
        return candidate
    known = ", ".join(p.stem for p in list_suites(scenario_dir)) or "none"
    raise ScenarioError(name_or_path, "", f"no such suite (known: {known})")


def _relative_run_dir(run_dir: Path, suite_dir: Path) -> str:
    """The run's directory as suite.json keeps it: relative to the suite directory (which
    holds the runs, so a copied suite stays readable), absolute when it lies elsewhere."""
    try:
        return str(run_dir.resolve().relative_to(suite_dir.resolve()))
    except ValueError:
        return str(run_dir.resolve())


def _entry(outcome: RunOutcome, item: SuiteEntry, suite_dir: Path) -> dict[str, object]:
    result = outcome.result or {}
    return {
        "scenario": result.get("scenario", item.path.stem), "file": str(item.path),
        "profile": item.profile or result.get("profile"), "gating": item.gating,
        "run_dir": _relative_run_dir(outcome.run_dir, suite_dir), "status": outcome.status,
        "error": outcome.error,
        "expect": result.get("expect", "pass"), "expect_fail": result.get("expect_fail", []),
        "verdict": result.get("verdict", "unknown"), "as_expected": result.get("as_expected", False),
        "exit_code": outcome.exit_code,
    }


SUMMARY_BOUND_S = 60.0
"""How long a forcing signal waits for the summary of a stopped suite to be written."""


def run_suite(suite_path: Path, overrides: Mapping[str, object] | None = None, *,
              reports_dir: Path = Path("reports"), quiet: bool = False) -> SuiteOutcome:
    """Run every scenario of the suite in order; each gets the suite's and the caller's overrides.
    A stop request ends the suite after the scenario under way (see the module's docstring)."""
    suite: Suite = load_suite(suite_path)
    suite_dir = new_run_dir(reports_dir, f"suite-{suite.name}")
    runs: list[RunOutcome] = []
    entries: list[dict[str, object]] = []
    started = wall()
    gating: list[int] = []
    stop = StopRequest()
    with stop.installed():
        done = 0
        try:
            for item in suite.entries:
                if stop.event.is_set():
                    break
                merged = {**suite.overrides_for(item.path), **(overrides or {})}
                if item.profile:
                    merged["profile"] = item.profile
                try:
                    outcome = run_scenario(item.path, merged, reports_dir=suite_dir, quiet=quiet,
                                           stop=stop)
                except HarnessError as exc:  # a scenario that cannot even load still gets its row
                    outcome = RunOutcome(suite_dir, exitcodes.COULD_NOT_RUN, None, "failed", str(exc))
                done += 1
                runs.append(outcome)
                entries.append(_entry(outcome, item, suite_dir))
                if item.gating or outcome.exit_code == exitcodes.COULD_NOT_RUN:
                    gating.append(outcome.exit_code)
                _write_suite_json(suite_dir, suite, started, entries, None, [])
        except KeyboardInterrupt:  # forced between runs: the summary still says what ran
            done = len(entries)
        stopped_by = (stop.signal_name or "a stop request") if stop.event.is_set() else None
        not_run = [str(item.path) for item in suite.entries[done:]] if stopped_by else []
        with contextlib.suppress(KeyboardInterrupt), stop.shielded(SUMMARY_BOUND_S):
            _write_suite_json(suite_dir, suite, started, entries, stopped_by, not_run)
            _render(suite_dir, suite, runs)
    code = exitcodes.COULD_NOT_RUN if stopped_by else max(gating, default=exitcodes.OK)
    return SuiteOutcome(suite_dir, runs, code, stopped_by, not_run)


def _write_suite_json(suite_dir: Path, suite: Suite, started: str, entries: list[dict[str, object]],
                      stopped_by: str | None, not_run: list[str]) -> None:
    doc: dict[str, object] = {"suite": suite.name, "description": suite.description,
                           "started_wall": started, "ended_wall": wall(),
                           "status": "incomplete" if stopped_by else "complete", "runs": entries}
    if stopped_by:
        doc.update(stopped_by=stopped_by, not_run=not_run)
    (suite_dir / "suite.json").write_text(json.dumps(doc, indent=2) + "\n")


def _render(suite_dir: Path, suite: Suite, runs: list[RunOutcome]) -> None:
    from harness.report import render_seed_metrics, render_suite

    render_suite(suite_dir, [o.run_dir for o in runs])
    if any(not item.gating for item in suite.entries):
        render_seed_metrics(suite_dir)  # a suite with comparison runs gets its before/after table
