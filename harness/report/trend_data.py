"""Collect the nights of a reports directory for ``chaosharness trend``.

Reads every run directory directly under ``REPORTS_DIR`` and every run directory one
level inside a suite directory (one with ``suite.json``, or ``-suite-`` in its name).
Only ``run.json`` and ``result.json`` are read, never the large files, so months of
nights collect in a second. A directory that cannot be a night is never an error: it
is returned as :class:`Skipped` with the reason, and so is anything malformed in it.

What reads, older formats included:

- ``run.json`` needs ``scenario`` (else ``result.json``'s) and a start time:
  ``started_wall``, else the ``YYYYmmddTHHMMSSZ`` prefix of the directory's name.
- A run whose ``status`` is ``failed``/``incomplete``/``running`` is a night that did
  not run (shown, never judged) even without ``result.json``; a complete run without
  ``result.json`` is skipped (it was never judged: ``chaosharness verify DIR``).
- ``result.json`` of every format so far: figures missing from older ones (no
  ``ci95``, no ``phases``, no ``as_expected``, no ``run_status``) are not measured,
  and ``as_expected`` is derived from ``verdict`` and ``expect`` when absent.

Both files are read through their records (:class:`~harness.records.RunInfo`,
:class:`~harness.records.ResultRecord`), so a file of a newer format, or with a field of
the wrong type, is skipped as unreadable with the record's reason.

Skipped with the reason: no ``run.json`` (not a run), unreadable or non-object JSON,
no scenario or start time, replays (``replay_of`` set: a re-run of an older night is
not a night of its own), a suite's scenario that never got a run directory. Not
listed at all: files, ``compare-*`` directories and ``trend-plots`` (outputs of
``compare`` and ``trend``).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from harness.records import ResultRecord, RunInfo
from harness.records.result import FaultOutcome
from harness.report.trend_rules import Night

__all__ = ["PLOTS_DIR", "Collected", "Skipped", "collect", "read_night"]

#: Where ``trend`` writes its PNGs, under ``--out``; never read as a run.
PLOTS_DIR = "trend-plots"
_NOT_RUNS = re.compile(r"^(compare-.*|" + re.escape(PLOTS_DIR) + r")$")
_STAMP = re.compile(r"^(\d{8}T\d{6}Z)")
_NOT_RUN_STATUSES = ("failed", "incomplete", "running")
_PHASES = ("warmup", "steady", "fault", "recovery", "run")
#: result.json's ``metrics``: figures by phase kind.
Metrics = Mapping[str, Mapping[str, object]]


@dataclass
class Skipped:
    """A directory that is not a night, and why."""

    path: Path
    reason: str


@dataclass
class Collected:
    """The nights found (unordered) and the directories skipped."""

    nights: list[Night] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


def _num(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(float(value)) else None


def _int(value: object) -> int | None:
    number = _num(value)
    return int(number) if number is not None else None


def _obj(value: object) -> Mapping[str, object]:
    return value if isinstance(value, Mapping) else {}


def _read_object(path: Path) -> dict[str, object]:
    """A JSON object from ``path``; ValueError saying what is wrong otherwise."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path.name}: not UTF-8 text ({exc.reason})") from exc
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path.name}: invalid JSON ({exc.msg}, line {exc.lineno})") from exc
    if not isinstance(doc, dict):
        raise ValueError(f"{path.name}: expected a JSON object, got {type(doc).__name__}")
    return doc


def _started(run: RunInfo, run_dir: Path) -> datetime:
    text = run.started_wall
    if text:
        try:
            when = datetime.fromisoformat(text)
        except ValueError:
            pass
        else:
            return when if when.tzinfo else when.replace(tzinfo=UTC)
    stamp = _STAMP.match(run_dir.name)
    if stamp:
        return datetime.strptime(stamp.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    raise ValueError("run.json has no usable started_wall and the directory's name does not "
                     "start with a YYYYmmddTHHMMSSZ time")


def _recovery(metrics: Metrics, faults: Sequence[FaultOutcome]) -> float | None:
    if any(f.recovered is False and f.ok and not f.rolled_back for f in faults):
        return math.inf
    value = _num(metrics.get("run", {}).get("recovery_seconds"))
    if value is not None:
        return value
    each = [v for v in (_num(f.recovery_s) for f in faults) if v is not None]
    return max(each) if each else None


def _detect(metrics: Metrics, faults: Sequence[FaultOutcome]) -> float | None:
    for phase in ("run", "fault"):
        value = _num(metrics.get(phase, {}).get("detect_seconds"))
        if value is not None:
            return value
    each = [v for v in (_num(f.detect_s) for f in faults) if v is not None]
    return max(each) if each else None


def _steady(night: Night, result: ResultRecord) -> None:
    if not result.phases:
        night.notes.append("no phases in result.json (older format): uptime not measured")
        return
    night.steady_s = sum(max(0.0, (_num(p.get("end_s")) or 0.0) - (_num(p.get("start_s")) or 0.0))
                         for p in result.phases if p.get("kind") == "steady")
    steady = result.metrics.get("steady", {})
    for key in ("uptime", "availability"):
        value = _num(steady.get(key))
        if value is not None:
            night.steady_up, night.steady_up_from = min(1.0, max(0.0, value)), key
            return


def _memory(night: Night, mem: Mapping[str, object]) -> None:
    night.mem_slope = _num(mem.get("slope_mb_per_hour"))
    ci = mem.get("ci95")
    if isinstance(ci, list | tuple) and len(ci) == 2:
        lo, hi = _num(ci[0]), _num(ci[1])
        if lo is not None and hi is not None:
            night.mem_ci = (lo, hi)
    night.mem_judged = mem.get("leak") is not None and night.mem_slope is not None
    night.peak_rss_bytes = _num(mem.get("peak_rss_bytes"))


def _as_expected(result: ResultRecord, verdict: str, expect: str) -> bool | None:
    if result.as_expected is not None:
        return result.as_expected
    if verdict in ("pass", "fail"):
        return verdict == expect
    return None


def _fill_from_result(night: Night, result: ResultRecord) -> None:
    metrics = result.metrics
    if not metrics:
        raise ValueError("result.json has no 'metrics' object")
    faults = result.faults
    night.verdict = result.verdict
    night.expect = result.expect
    night.as_expected = _as_expected(result, night.verdict, night.expect)
    night.availability = {k: _num(result.metric("availability", k)) for k in ("steady", "run")}
    night.p99_ms = {k: _num(result.metric("p99_latency_ms", k)) for k in _PHASES
                    if k in metrics}
    night.recovery_s = _recovery(metrics, faults)
    night.detect_s = _detect(metrics, faults)
    writes, run_m = result.writes, metrics.get("run", {})
    night.lost_writes = _int(writes.get("lost", run_m.get("lost_writes")))
    night.duplicated_writes = _int(writes.get("duplicated", run_m.get("duplicated_writes")))
    _memory(night, result.memory)
    _steady(night, result)
    status = result.run_status
    if status in _NOT_RUN_STATUSES:
        night.run_status, night.judged = str(status), False


def read_night(run_dir: Path, suite: str | None = None) -> Night | Skipped:
    """One run directory as a night, or why it is not one. Never raises for bad content."""
    try:
        return _read_night(run_dir, suite)
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        return Skipped(run_dir, f"unreadable: {exc}")


def _read_night(run_dir: Path, suite: str | None) -> Night | Skipped:
    run_path, result_path = run_dir / "run.json", run_dir / "result.json"
    if not run_path.is_file():
        return Skipped(run_dir, "no run.json: not a run directory")
    run = RunInfo.from_json(_read_object(run_path), run_path.name)
    if run.replay_of:
        return Skipped(run_dir, f"a replay of {run.replay_of}: not a night of its own")
    result = (ResultRecord.from_json(_read_object(result_path), result_path.name)
              if result_path.is_file() else None)
    scenario = run.scenario or (result.scenario if result else None)
    if not scenario:
        return Skipped(run_dir, "no scenario name in run.json or result.json")
    status = run.status or "complete"
    night = Night(scenario=scenario, run_dir=run_dir, started=_started(run, run_dir),
                  run_status=status, profile=run.profile, suite=suite)
    if status in _NOT_RUN_STATUSES:
        night.judged = False
        night.verdict = "not run"
        if run.error:
            night.notes.append(f"could not run: {run.error}")
        if result is not None:
            _fill_from_result(night, result)
            night.judged = False
        return night
    if result is None:
        return Skipped(run_dir, "no result.json: the run was never judged "
                                f"(chaosharness verify {run_dir})")
    _fill_from_result(night, result)
    return night


def _is_suite(path: Path) -> bool:
    return (path / "suite.json").is_file() or "-suite-" in path.name


def _suite_name(path: Path) -> str:
    try:
        doc = _read_object(path / "suite.json")
    except (OSError, ValueError):
        return path.name
    return str(doc.get("suite") or path.name)


def _never_ran(suite_dir: Path, seen: set[str]) -> list[Skipped]:
    """The suite's scenarios that never got a run directory, as suite.json lists them."""
    try:
        doc = _read_object(suite_dir / "suite.json")
    except (OSError, ValueError):
        return []
    runs = doc.get("runs")
    out = []
    for entry in runs if isinstance(runs, list) else []:
        if not isinstance(entry, dict):
            continue
        name = str(entry.get("run_dir") or "")
        if name and Path(name).name in seen:
            continue
        why = entry.get("error") or "no run directory"
        out.append(Skipped(suite_dir / name if name else suite_dir,
                           f"suite scenario {entry.get('scenario', '?')} did not run: {why}"))
    return out


def _subdirs(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if p.is_dir() and not _NOT_RUNS.match(p.name))


def collect(reports_dir: Path) -> Collected:
    """Every night under ``reports_dir`` (see the module docstring) and every skip."""
    out = Collected()
    for entry in _subdirs(reports_dir):
        if _is_suite(entry):
            suite = _suite_name(entry)
            subs = _subdirs(entry)
            for sub in subs:
                _add(out, read_night(sub, suite))
            out.skipped.extend(_never_ran(entry, {s.name for s in subs}))
            continue
        _add(out, read_night(entry))
    return out


def _add(out: Collected, item: Night | Skipped) -> None:
    if isinstance(item, Night):
        out.nights.append(item)
    else:
        out.skipped.append(item)
