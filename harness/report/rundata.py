"""Load the small files of a run directory for rendering.

Reads ``run.json``, ``result.json``, ``timeline.jsonl`` and ``memory/diff-*.json``
(docs/run-directory.md), scrubbed of secrets on the way in. The two big files,
``requests.csv`` and ``samples.jsonl``, are streamed by :mod:`harness.report.series`
instead. A missing file is not an error here: a report of an incomplete run says
what it lacks; a file that exists but cannot be parsed is a :class:`ReportError`
naming it.
"""

from __future__ import annotations

import json
import shlex
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from harness.errors import ReportError
from harness.report.scrub import Scrubber
from harness.verify.rundir import read_json

__all__ = ["FaultWindow", "RunData", "fault_windows", "load_run", "read_scrubbed", "replay_command"]


@dataclass(frozen=True)
class FaultWindow:
    """One fault's effect on the run's clock: ``[start_s, end_s]`` (``end_s`` None: never removed)."""

    fault: int
    action: str
    start_s: float
    end_s: float | None
    ok: bool = True
    error: str | None = None
    repeat: int | None = None
    params: dict[str, Any] = field(default_factory=dict)
    repeated: bool = False  # the fault has more than one window (flapping)

    @property
    def label(self) -> str:
        """Short label for a plot: ``#0 postgres.restart`` (``#2.1`` for a flapping repeat)."""
        rep = f".{self.repeat}" if self.repeat is not None and self.repeated else ""
        failed = " (failed)" if not self.ok else ""
        return f"#{self.fault}{rep} {self.action}{failed}"


@dataclass
class RunData:
    """Everything small a report shows about one run, already scrubbed."""

    run_dir: Path
    scenario: str
    run: dict[str, Any]
    result: dict[str, Any] | None
    timeline: list[dict[str, Any]]
    windows: list[FaultWindow]
    memory_diffs: list[dict[str, Any]]  # t_s and totals of each memory/diff-*.json
    scrubber: Scrubber
    missing: list[str]

    @property
    def run_id(self) -> str:
        """The run's id from run.json/result.json, else the directory's name."""
        res = self.result or {}
        return str(self.run.get("run_id") or res.get("run_id") or self.run_dir.name)

    @property
    def end_s(self) -> float | None:
        """The run's last time on its clock (run_end, else load_stop), if recorded."""
        for name in ("run_end", "load_stop"):
            for event in reversed(self.timeline):
                if event.get("event") == name and isinstance(event.get("t_s"), int | float):
                    return float(event["t_s"])
        return None


def read_scrubbed(path: Path, scrubber: Scrubber) -> Any:
    """A JSON file of the run directory (:func:`harness.verify.rundir.read_json`), scrubbed;
    :class:`ReportError` names a malformed file."""
    return scrubber.obj(read_json(path, ReportError))


def _read_jsonl(path: Path, scrubber: Scrubber) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as exc:
                # The last line of a killed run may be cut short: tolerate only that one.
                if fh.readline() == "":
                    break
                raise ReportError(f"{path}:{lineno}: not valid JSON: {exc.msg}") from exc
            if isinstance(item, dict):
                events.append(scrubber.obj(item))
    return events


def _diff_totals(diff: Any) -> dict[str, Any] | None:
    if not isinstance(diff, dict):
        return None
    return {k: diff.get(k) for k in ("t_s", "total_bytes", "total_diff_bytes")}


def fault_windows(timeline: list[dict[str, Any]], end_s: float | None) -> list[FaultWindow]:
    """Pair each ``apply`` with its ``remove`` (by fault index and repeat) into windows."""
    open_: dict[tuple[int, int | None], dict[str, Any]] = {}
    windows: list[FaultWindow] = []
    for event in timeline:
        kind = event.get("event")
        if kind not in ("apply", "remove") or not isinstance(event.get("t_s"), int | float):
            continue
        key = (int(event.get("fault", -1)), event.get("repeat"))
        if kind == "apply":
            open_[key] = event
            continue
        applied = open_.pop(key, None)
        if applied is not None:
            windows.append(_window(applied, float(event["t_s"])))
    windows.extend(_window(applied, end_s) for applied in open_.values())
    counts = Counter(w.fault for w in windows)
    windows = [replace(w, repeated=counts[w.fault] > 1) for w in windows]
    return sorted(windows, key=lambda w: (w.start_s, w.fault))


def _window(applied: dict[str, Any], end_s: float | None) -> FaultWindow:
    params = applied.get("params")
    return FaultWindow(
        fault=int(applied.get("fault", -1)),
        action=str(applied.get("action", "?")),
        start_s=float(applied["t_s"]),
        end_s=end_s,
        ok=bool(applied.get("ok", True)),
        error=applied.get("error"),
        repeat=applied.get("repeat"),
        params=params if isinstance(params, dict) else {},
    )


def _windows_from_result(result: dict[str, Any] | None) -> list[FaultWindow]:
    """Fault windows from result.json when the timeline is missing."""
    out: list[FaultWindow] = []
    for item in (result or {}).get("faults") or []:
        if isinstance(item, dict) and isinstance(item.get("applied_s"), int | float):
            removed = item.get("removed_s")
            out.append(
                FaultWindow(
                    fault=int(item.get("fault", -1)),
                    action=str(item.get("action", "?")),
                    start_s=float(item["applied_s"]),
                    end_s=float(removed) if isinstance(removed, int | float) else None,
                )
            )
    return out


def load_run(run_dir: Path, scrubber: Scrubber | None = None) -> RunData:
    """Load a run directory's small files; raises :class:`ReportError` if it is not one."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ReportError(f"{run_dir}: not a run directory (does not exist)")
    scrubber = scrubber or Scrubber()
    missing: list[str] = []

    def optional(name: str) -> Any:
        path = run_dir / name
        if not path.is_file():
            missing.append(name)
            return None
        return read_scrubbed(path, scrubber)

    run = optional("run.json") or {}
    result = optional("result.json")
    timeline_path = run_dir / "timeline.jsonl"
    timeline = _read_jsonl(timeline_path, scrubber) if timeline_path.is_file() else []
    if not timeline_path.is_file():
        missing.append("timeline.jsonl")
    # Only the totals are plotted (verify already ranked the sites): a day's soak has
    # thousands of diffs, so their top-N lists and tracebacks are not kept in memory.
    diffs = [_diff_totals(read_scrubbed(p, scrubber))
             for p in sorted((run_dir / "memory").glob("diff-*.json"))]
    scenario = str(run.get("scenario") or (result or {}).get("scenario") or run_dir.name)
    data = RunData(
        run_dir=run_dir, scenario=scenario, run=run, result=result, timeline=timeline,
        windows=[], memory_diffs=[d for d in diffs if isinstance(d, dict)],
        scrubber=scrubber, missing=missing,
    )
    data.windows = fault_windows(timeline, data.end_s) if timeline else _windows_from_result(result)
    return data


def replay_command(run_dir: Path) -> str:
    """The one-line command that re-executes this run's recorded timeline."""
    return f"chaosharness replay {shlex.quote(str(run_dir))}"
