"""Read a run directory's files (docs/run-directory.md) for the checkers.

Verify reads only these files, never another stage's memory, so a copied run
directory verifies the same. Missing optional files read as empty; a malformed
file raises :class:`~harness.errors.VerifyError` naming the file and the line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import HarnessError, VerifyError
from harness.faults.catalog import AFFECTS, UNDOS, FaultEffect, effect_of
from harness.requests_file import requests_path

__all__ = ["FAULT_EVENTS", "RunFiles", "TimelineEvent", "iter_jsonl", "read_json"]

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


def iter_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """Yield one object per non-empty line, streaming; a torn last line (a killed writer:
    the only line that can lack its newline) is skipped."""
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                if not line.endswith("\n"):
                    return
                raise VerifyError(f"{path}:{number}: not valid JSON: {exc}") from exc
            if not isinstance(obj, dict):
                raise VerifyError(
                    f"{path}:{number}: expected a JSON object, got {type(obj).__name__}")
            yield obj


#: The timeline lines that belong to a fault (and carry its effect).
FAULT_EVENTS = frozenset({"apply", "remove"})


@dataclass(frozen=True)
class TimelineEvent:
    """One line of timeline.jsonl; ``raw`` keeps every field for evidence."""

    event: str
    t_s: float
    raw: dict[str, Any] = field(compare=False)

    @property
    def fault(self) -> int | None:
        value = self.raw.get("fault")
        return int(value) if value is not None else None

    @property
    def effect(self) -> FaultEffect | None:
        """What the fault of an apply/remove line acts on and how its effect ends.

        Read from the line's own ``affects``, ``undo`` and ``link`` fields. Only a run
        directory written before the timeline carried them (no ``affects`` key) falls back
        to the fault catalogue's entry for the line's action and parameters
        (:func:`harness.faults.catalog.effect_of`). None for any other line, and for an
        old line whose action the catalogue does not know. Malformed fields raise
        :class:`VerifyError`."""
        if self.event not in FAULT_EVENTS:
            return None
        raw = self.raw
        if "affects" not in raw:  # an old run directory: the catalogue says what it did
            params = raw.get("params")
            return effect_of(str(raw.get("action", "")), params if isinstance(params, dict) else {})
        affects, undo, link = raw.get("affects"), raw.get("undo"), raw.get("link")
        if affects not in AFFECTS or undo not in UNDOS:
            raise VerifyError(f"timeline.jsonl: {self.event} line at {self.t_s} s: affects must "
                              f"be one of {list(AFFECTS)} and undo one of {list(UNDOS)}, got "
                              f"affects={affects!r}, undo={undo!r}")
        if (affects == "link") != isinstance(link, str) or link == "":
            raise VerifyError(f"timeline.jsonl: {self.event} line at {self.t_s} s: a link fault "
                              f"names its link (and only a link fault), got affects={affects!r}, "
                              f"link={link!r}")
        return FaultEffect(affects, undo, link)


@dataclass
class RunFiles:
    """The run directory, opened lazily; each accessor reads its file once."""

    root: Path
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    def path(self, name: str) -> Path:
        return self.root / name

    def run_info(self) -> dict[str, Any]:
        """run.json, or ``{}`` when the conductor did not write one."""
        if "run" not in self._cache:
            p = self.path("run.json")
            self._cache["run"] = read_json(p) if p.exists() else {}
        return dict(self._cache["run"])

    def timeline(self) -> list[TimelineEvent]:
        """timeline.jsonl in time order (stable for equal times)."""
        if "timeline" not in self._cache:
            p = self.path("timeline.jsonl")
            events: list[TimelineEvent] = []
            if p.exists():
                for obj in iter_jsonl(p):
                    t = obj.get("t_s")
                    if "event" not in obj or not isinstance(t, int | float):
                        raise VerifyError(f"{p}: line without event/t_s: {obj!r}")
                    event = TimelineEvent(str(obj["event"]), float(t), obj)
                    _ = event.effect  # a malformed affects/undo/link fails here, not later
                    events.append(event)
            events.sort(key=lambda e: e.t_s)
            self._cache["timeline"] = events
        return list(self._cache["timeline"])

    def samples(self) -> list[dict[str, Any]]:
        """samples.jsonl in time order; rows without a numeric t_s are dropped."""
        if "samples" not in self._cache:
            p = self.path("samples.jsonl")
            rows = []
            for sample in iter_jsonl(p) if p.exists() else ():
                if isinstance(sample.get("t_s"), int | float):
                    sample.pop("app_stats", None)  # raw bodies for the report; verify never reads them
                    rows.append(sample)
            rows.sort(key=lambda s: float(s["t_s"]))
            self._cache["samples"] = rows
        return list(self._cache["samples"])

    def final_read(self) -> dict[str, Any] | None:
        """final_read.json, or ``None`` when there was none (write accounting is then unknown)."""
        p = self.path("final_read.json")
        if not p.exists():
            return None
        data = read_json(p)
        if not isinstance(data, dict):
            raise VerifyError(f"{p}: expected a JSON object")
        return data

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
