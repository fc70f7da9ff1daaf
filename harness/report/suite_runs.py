"""A suite's runs as the report reads them: ``suite.json`` and each run's ``result.json``.

The layer under :mod:`harness.report.suite_summary` (the summary and combined JUnit) and
:mod:`harness.report.seed_metrics` (the before/after table), which both read a suite's
runs, so neither has to import the other for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import ReportError
from harness.records import RecordError, ResultRecord
from harness.report.rundata import read_scrubbed
from harness.report.scrub import Scrubber

__all__ = ["SuiteRun", "load_suite_runs"]


@dataclass
class SuiteRun:
    """One scenario of a suite: the runner's entry and its run's result (if any)."""

    scenario: str
    run_dir: Path | None
    entry: dict[str, object]
    result: ResultRecord | None
    problem: str = ""

    @property
    def verdict(self) -> str:
        """The run's verdict (result.json, else what the runner recorded, else unknown)."""
        return str((self.result.verdict if self.result else None) or self.entry.get("verdict")
                   or "unknown")

    @property
    def as_expected(self) -> bool | None:
        """Whether the verdict is what the scenario expects (None: not judged)."""
        value = self.result.as_expected if self.result else self.entry.get("as_expected")
        return value if isinstance(value, bool) else None


def _resolve(suite_dir: Path, run_dir: Any) -> Path | None:
    if not run_dir:
        return None
    path = Path(str(run_dir))
    return path if path.is_absolute() else suite_dir / path


def load_suite_runs(
    suite_dir: Path, runs: list[Path], scrub: Scrubber
) -> tuple[str, list[SuiteRun]]:
    """The suite's name and its runs, from ``suite.json`` when present, else from ``runs``."""
    suite_json = suite_dir / "suite.json"
    if suite_json.is_file():
        doc = read_scrubbed(suite_json, scrub)
        if not isinstance(doc, dict) or not isinstance(doc.get("runs"), list):
            raise ReportError(f"{suite_json}: expected an object with a 'runs' list")
        name = str(doc.get("suite") or suite_dir.name)
        entries = [e for e in doc["runs"] if isinstance(e, dict)]
    else:
        name = suite_dir.name
        entries = [{"run_dir": str(r)} for r in runs]
    out = []
    for entry in entries:
        run_dir = _resolve(suite_dir, entry.get("run_dir"))
        if run_dir is not None and run_dir.resolve() == suite_dir.resolve():
            run_dir = None  # the runner's placeholder for a scenario that never got a run
        result, problem = None, ""
        if run_dir is not None and (run_dir / "result.json").is_file():
            path = run_dir / "result.json"
            try:
                result = ResultRecord.from_json(read_scrubbed(path, scrub), str(path))
            except RecordError as exc:
                raise ReportError(str(exc)) from exc
        elif entry.get("error"):
            problem = f"could not run: {entry['error']}"
        elif run_dir is None:
            problem = "no run directory: the scenario did not run"
        else:
            problem = f"{run_dir}/result.json missing: the run was not judged"
        scenario = str(entry.get("scenario") or (result.scenario if result else None)
                       or (run_dir.name if run_dir else "?"))
        out.append(SuiteRun(scenario, run_dir, entry, result, problem))
    return name, out
