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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from harness.errors import ReportError
from harness.records import RecordError, ResultRecord, RunInfo, TimelineEvent
from harness.report.scrub import Scrubber
from harness.verify.rundir import read_json, with_effect
from harness.verify.windows import FaultWindow, fault_windows

__all__ = ["RunData", "load_run", "read_scrubbed", "read_timeline_events", "replay_command",
           "timeline_windows"]

R = TypeVar("R")


@dataclass
class RunData:
    """Everything small a report shows about one run, already scrubbed."""

    run_dir: Path
    scenario: str
    run: RunInfo
    result: ResultRecord | None
    timeline: list[TimelineEvent]
    windows: list[FaultWindow]
    memory_diffs: list[dict[str, object]]  # t_s and totals of each memory/diff-*.json
    scrubber: Scrubber
    missing: list[str]

    @property
    def run_id(self) -> str:
        """The run's id from run.json/result.json, else the directory's name."""
        return str(self.run.run_id or (self.result.run_id if self.result else "")
                   or self.run_dir.name)

    @property
    def end_s(self) -> float | None:
        """The run's last time on its clock (run_end, else load_stop), if recorded."""
        for name in ("run_end", "load_stop"):
            for event in reversed(self.timeline):
                if event.event == name:
                    return event.t_s
        return None


def _parse(parse: Callable[[Any, str], R], obj: object, path: Path) -> R | None:
    """A file's JSON parsed into its record (None when the file is missing); a malformed or
    too new one is a ReportError naming the file."""
    if obj is None:
        return None
    try:
        return parse(obj, str(path))
    except RecordError as exc:
        raise ReportError(str(exc)) from exc


def read_scrubbed(path: Path, scrubber: Scrubber) -> Any:
    """A JSON file of the run directory (:func:`harness.verify.rundir.read_json`), scrubbed;
    :class:`ReportError` names a malformed file."""
    return scrubber.obj(read_json(path, ReportError))


def _read_jsonl(path: Path, scrubber: Scrubber) -> list[dict[str, object]]:
    events: list[dict[str, object]] = []
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


def _diff_totals(diff: Any) -> dict[str, object] | None:
    if not isinstance(diff, dict):
        return None
    return {k: diff.get(k) for k in ("t_s", "total_bytes", "total_diff_bytes")}


def read_timeline_events(path: Path, scrubber: Scrubber) -> list[TimelineEvent]:
    """timeline.jsonl as records, scrubbed, in time order; a line without ``event``/``t_s``
    is skipped (a report shows what it can), other malformed fields are a ReportError."""
    events: list[TimelineEvent] = []
    for item in _read_jsonl(path, scrubber):
        if "event" not in item or not isinstance(item.get("t_s"), int | float):
            continue
        try:
            events.append(with_effect(TimelineEvent.from_json(item, str(path))))
        except RecordError as exc:
            raise ReportError(str(exc)) from exc
    events.sort(key=lambda e: e.t_s)
    return events


def timeline_windows(events: list[TimelineEvent]) -> list[FaultWindow]:
    """The fault windows of a loaded timeline, paired by verify's one
    :func:`~harness.verify.windows.fault_windows`, in (applied, fault) order; a window never
    removed has ``removed_s`` None (the report draws it to the run's end)."""
    return sorted(fault_windows(events), key=lambda w: (w.applied_s, w.fault))


def _windows_from_result(result: ResultRecord | None) -> list[FaultWindow]:
    """Fault windows from result.json when the timeline is missing."""
    out: list[FaultWindow] = []
    for item in result.faults if result else ():
        if item.applied_s is not None:
            out.append(FaultWindow(
                fault=item.fault, repeat=item.repeat, action=item.action or "?", params={},
                applied_s=item.applied_s, removed_s=item.removed_s, ok=True, error=None))
    counts = Counter(w.fault for w in out)
    for w in out:
        w.repeated = counts[w.fault] > 1
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

    run = _parse(RunInfo.from_json, optional("run.json"), run_dir / "run.json") or RunInfo()
    # a result of a newer format is refused, with the reason
    result = _parse(ResultRecord.from_json, optional("result.json"), run_dir / "result.json")
    timeline_path = run_dir / "timeline.jsonl"
    timeline = read_timeline_events(timeline_path, scrubber) if timeline_path.is_file() else []
    if not timeline_path.is_file():
        missing.append("timeline.jsonl")
    # Only the totals are plotted (verify already ranked the sites): a day's soak has
    # thousands of diffs, so their top-N lists and tracebacks are not kept in memory.
    diffs = [_diff_totals(read_scrubbed(p, scrubber))
             for p in sorted((run_dir / "memory").glob("diff-*.json"))]
    scenario = str(run.scenario or (result.scenario if result else None) or run_dir.name)
    data = RunData(
        run_dir=run_dir, scenario=scenario, run=run, result=result, timeline=timeline,
        windows=[], memory_diffs=[d for d in diffs if isinstance(d, dict)],
        scrubber=scrubber, missing=missing,
    )
    data.windows = timeline_windows(timeline) if timeline else _windows_from_result(result)
    return data


def replay_command(run_dir: Path) -> str:
    """The one-line command that re-executes this run's recorded timeline."""
    return f"chaosharness replay {shlex.quote(str(run_dir))}"
