"""Read a run directory's files (docs/run-directory.md) for the checkers.

Verify reads only these files, never another stage's memory, so a copied run
directory verifies the same. Missing optional files read as empty; a malformed
file raises :class:`~harness.errors.VerifyError` naming the file and the line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from harness.errors import HarnessError, VerifyError
from harness.faults.catalog import effect_of
from harness.records import FinalReadRecord, RecordError, RunInfo, Sample, TimelineEvent
from harness.requests_file import requests_path

__all__ = ["RunFiles", "TimelineEvent", "iter_jsonl", "read_json", "read_timeline", "with_effect"]

R = TypeVar("R")


def _record(parse: Callable[[Any, str], R], obj: object, path: Path | str) -> R:
    """``obj`` (a file's JSON) parsed into its record; a malformed one is a VerifyError."""
    try:
        return parse(obj, str(path))
    except RecordError as exc:
        raise VerifyError(str(exc)) from exc

_DIFF_NAME = re.compile(r"diff-(\d+)\.json$")


def read_json(path: Path, error: type[HarnessError] = VerifyError) -> Any:
    """Parse one JSON file of a run directory (verify's and report's one reader).

    A file that cannot be read or parsed raises ``error`` (:class:`VerifyError` for
    verify, :class:`~harness.errors.ReportError` for the report) naming the file and,
    for a syntax error, the position."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise error(f"{path}: cannot read: {exc}") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise error(f"{path}: not valid JSON: {exc.msg} at line {exc.lineno} "
                    f"column {exc.colno}") from exc


def iter_jsonl(path: Path, error: type[HarnessError] = VerifyError
               ) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line number, object) per non-empty line, streaming; a torn last line (a killed
    writer: the only line that can lack its newline) is skipped."""
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                if not line.endswith("\n"):
                    return
                raise error(f"{path}:{number}: not valid JSON: {exc}") from exc
            if not isinstance(obj, dict):
                raise error(f"{path}:{number}: expected a JSON object, got {type(obj).__name__}")
            yield number, obj


def with_effect(event: TimelineEvent) -> TimelineEvent:
    """A fault line as verify reads it: its own ``affects``/``undo``/``link`` when it has them;
    only a line written before the timeline carried them (format 1: no ``affects``) takes
    the fault catalogue's entry for its action and parameters
    (:func:`harness.faults.catalog.effect_of`; None for an action the catalogue does not
    know)."""
    if not event.is_fault or event.effect is not None:
        return event
    return replace(event, effect=effect_of(event.action or "", event.params))


def read_timeline(path: Path, error: type[HarnessError] = VerifyError) -> list[TimelineEvent]:
    """timeline.jsonl as :class:`~harness.records.TimelineEvent` records, in time order
    (stable for equal times); a malformed line raises ``error`` naming the file and line."""
    events: list[TimelineEvent] = []
    for number, obj in iter_jsonl(path, error):
        try:
            events.append(with_effect(TimelineEvent.from_json(obj, f"{path}:{number}")))
        except RecordError as exc:
            raise error(str(exc)) from exc
    events.sort(key=lambda e: e.t_s)
    return events


@dataclass
class RunFiles:
    """The run directory, opened lazily; each accessor reads its file once."""

    root: Path
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    def path(self, name: str) -> Path:
        return self.root / name

    def run_info(self) -> RunInfo | None:
        """run.json, or None when the conductor did not write one; a file of a newer format
        than this version reads is refused (VerifyError says why)."""
        if "run" not in self._cache:
            p = self.path("run.json")
            self._cache["run"] = _record(RunInfo.from_json, read_json(p), p) if p.exists() else None
        info = self._cache["run"]
        return info if isinstance(info, RunInfo) else None

    def timeline(self) -> list[TimelineEvent]:
        """timeline.jsonl in time order (stable for equal times)."""
        if "timeline" not in self._cache:
            p = self.path("timeline.jsonl")
            self._cache["timeline"] = read_timeline(p) if p.exists() else []
        return list(self._cache["timeline"])

    def samples(self) -> list[Sample]:
        """samples.jsonl in time order, without the raw stats bodies (for the report; verify
        never reads them); rows without a numeric t_s are dropped, other malformed fields
        raise VerifyError naming the line."""
        if "samples" not in self._cache:
            p = self.path("samples.jsonl")
            rows: list[Sample] = []
            for number, obj in iter_jsonl(p) if p.exists() else ():
                t = obj.get("t_s")
                if isinstance(t, bool) or not isinstance(t, int | float):
                    continue
                obj["app_stats"] = None
                rows.append(_record(Sample.from_json, obj, f"{p}:{number}"))
            rows.sort(key=lambda s: s.t_s)
            self._cache["samples"] = rows
        return list(self._cache["samples"])

    def final_read(self) -> FinalReadRecord | None:
        """final_read.json, or ``None`` when there was none (write accounting is then unknown)."""
        p = self.path("final_read.json")
        if not p.exists():
            return None
        return _record(FinalReadRecord.from_json, read_json(p), p)

    def memory_diffs(self) -> list[tuple[str, dict[str, Any]]]:
        """memory/diff-NNNN.json in NNNN order, as (file name, content)."""
        d = self.path("memory")
        if not d.is_dir():
            return []
        found: list[tuple[int, Path]] = []
        for p in d.iterdir():
            m = _DIFF_NAME.search(p.name)
            if m:
                found.append((int(m.group(1)), p))
        found.sort()
        return [(p.name, read_json(p)) for _, p in found]

    def requests_csv(self) -> Path | None:
        """The request log when present: requests.csv.gz (new runs) or requests.csv (older)."""
        return requests_path(self.root)
