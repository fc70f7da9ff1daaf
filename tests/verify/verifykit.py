"""Build hand-made run directories (docs/run-directory.md) with known answers for verify tests."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.faults.catalog import effect_of
from harness.records import Sample
from harness.records.run_info import AppExit

HEADER = ["t_s", "name", "status", "ok", "latency_ms", "error", "write_key", "ack", "attempt"]


@dataclass
class RunDirBuilder:
    """Accumulates the files of one run, then :meth:`write` puts them in ``root``."""

    root: Path
    scenario: str = 'name = "handmade"\n'
    run: dict[str, Any] = field(default_factory=lambda: {
        "scenario": "handmade", "run_id": "20261123T000000Z-handmade", "status": "complete",
        "error": None, "warmup_s": 5.0, "duration_s": 60.0, "seed": 7, "profile": "resilient",
        "versions": {"python": "3"}, "host": {"cpus": 2}, "app": {"exits": []}})
    events: list[dict[str, Any]] = field(default_factory=list)
    rows: list[list[Any]] = field(default_factory=list)
    samples: list[dict[str, Any]] = field(default_factory=list)
    final: dict[str, Any] | None = None
    diffs: list[dict[str, Any]] = field(default_factory=list)

    def event(self, event: str, t_s: float, **extra: Any) -> RunDirBuilder:
        self.events.append({"event": event, "t_s": t_s, "wall": "-", **extra})
        return self

    def fault(self, index: int, action: str, applied: float, removed: float | None,
              ok: bool = True, params: dict[str, Any] | None = None, old: bool = False,
              **extra: Any) -> RunDirBuilder:
        """An apply line and (unless ``removed`` is None) its remove line. Like the real
        timeline, both carry the catalogue's ``affects``/``undo``/``link`` for the action;
        ``old`` leaves them out (a run directory written before they existed), and
        ``extra`` may override them."""
        params = dict(params or {})
        effect = effect_of(action, params)
        fields = {} if old or effect is None else effect.fields()
        fields.update(extra)
        self.event("apply", applied, fault=index, action=action, params=params, ok=ok,
                   error=None if ok else "refused", **fields)
        if removed is not None:
            self.event("remove", removed, fault=index, action=action, params=params, ok=True,
                       **fields)
        return self

    def bounds(self, load_start: float = 5.0, load_stop: float = 65.0) -> RunDirBuilder:
        self.event("run_start", 0.0).event("load_start", load_start)
        return self.event("load_stop", load_stop).event("run_end", load_stop + 1)

    def request(self, t_s: float, name: str = "read_history", status: int = 200,
                latency_ms: float = 5.0, ok: bool | None = None, error: str | None = None,
                key: str = "", ack: bool | None = None, attempt: int = 1) -> RunDirBuilder:
        good = 200 <= status < 300 if ok is None else ok
        err = error if error is not None else ("" if good else
                                               (f"http_{status}" if status else "connection"))
        ack_text = "" if not key else ("1" if (ack if ack is not None else good) else "0")
        self.rows.append([f"{t_s:.6f}", name, status, int(good), latency_ms, err, key,
                          ack_text, attempt])
        return self

    def write_attempt(self, t_s: float, key: str, status: int, **kw: Any) -> RunDirBuilder:
        return self.request(t_s, name="post_message", status=status, key=key, **kw)

    def sample(self, t_s: float, **fields: Any) -> RunDirBuilder:
        self.samples.append({"t_s": t_s, "wall": "-", "missing": [], **fields})
        return self

    def final_read(self, rows: dict[str, int], ok: bool = True) -> RunDirBuilder:
        self.final = {"ok": ok, "error": None if ok else "down", "t_s": 70.0, "reads": 2,
                      "agreed": True, "sql": "select ...", "rows": rows}
        return self

    def write(self) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "scenario.toml").write_text(self.scenario, encoding="utf-8")
        (self.root / "run.json").write_text(json.dumps(self.run), encoding="utf-8")
        with (self.root / "timeline.jsonl").open("w", encoding="utf-8") as fh:
            for e in sorted(self.events, key=lambda e: e["t_s"]):
                fh.write(json.dumps(e) + "\n")
        with (self.root / "requests.csv").open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(HEADER)
            w.writerows(self.rows)
        with (self.root / "samples.jsonl").open("w", encoding="utf-8") as fh:
            for s in self.samples:
                fh.write(json.dumps(s) + "\n")
        if self.final is not None:
            (self.root / "final_read.json").write_text(json.dumps(self.final), encoding="utf-8")
        if self.diffs:
            (self.root / "memory").mkdir(exist_ok=True)
            for i, d in enumerate(self.diffs, 1):
                (self.root / "memory" / f"diff-{i:04d}.json").write_text(json.dumps(d))
        return self.root


def steady_load(b: RunDirBuilder, start: float, end: float, rate: float = 10.0,
                status: int = 200, latency_ms: float = 5.0) -> None:
    """``rate`` requests a second in ``[start, end)``, all with ``status``."""
    n = int(round((end - start) * rate))
    for i in range(n):
        b.request(start + i / rate, status=status, latency_ms=latency_ms)


def samples_of(rows: Iterable[Mapping[str, Any]]) -> list[Sample]:
    """Hand-made sample lines (as samples.jsonl holds them) as the records verify reads."""
    return [Sample.from_json(r) for r in rows]


def exits_of(rows: Iterable[Mapping[str, Any]]) -> list[AppExit]:
    """Hand-made run.json ``app.exits`` entries as records."""
    return [AppExit.from_json(r) for r in rows]
