"""Collecting nights (harness.report.trend_data): older formats read, bad directories skipped."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.report.trend_data import Skipped, collect, read_night
from harness.report.trend_rules import Night


def _write(root: Path, run: dict[str, Any] | str | None, result: dict[str, Any] | str | None
           ) -> Path:
    root.mkdir(parents=True)
    for name, doc in (("run.json", run), ("result.json", result)):
        if doc is not None:
            (root / name).write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return root


#: result.json as the first version of docs/run-directory.md described it.
OLD_RESULT = {
    "scenario": "db-restart", "run_id": "x", "expect": "pass", "expect_fail": [],
    "verdict": "fail",
    "metrics": {"run": {"availability": 0.99, "p99_latency_ms": 12.0, "requests": 1000},
                "steady": {}, "fault": {}, "recovery": {}},
    "faults": [{"fault": 0, "action": "postgres.restart", "applied_s": 20.0,
                "removed_s": 21.2, "recovery_s": 1.4, "detect_s": 0.3}],
    "writes": {"lost": 0, "duplicated": 0, "verdict": "pass"},
    "memory": {"slope_mb_per_hour": 1.0, "leak": False, "top_sites": [], "peak_rss_bytes": 0},
}


def test_an_old_format_run_reads_with_what_it_has(tmp_path: Path) -> None:
    """No started_wall (the directory's name gives the time), no phases, no ci95, no
    as_expected (derived from verdict vs expect): figures present are read, the rest is
    not measured."""
    root = _write(tmp_path / "20261101T020304Z-db-restart", {"scenario": "db-restart"},
                  OLD_RESULT)
    night = read_night(root)
    assert isinstance(night, Night)
    assert night.started.isoformat() == "2026-11-01T02:03:04+00:00"
    assert night.as_expected is False and night.verdict == "fail" and night.judged
    assert night.recovery_s == 1.4 and night.detect_s == 0.3
    assert night.p99_ms == {"run": 12.0, "steady": None, "fault": None, "recovery": None}
    assert night.mem_slope == 1.0 and night.mem_ci is None and night.mem_judged
    assert night.steady_s is None and "uptime not measured" in night.notes[0]


def test_a_run_that_could_not_run_is_a_night_that_is_not_judged(tmp_path: Path) -> None:
    root = _write(tmp_path / "20261101T020304Z-x",
                  {"scenario": "x", "status": "failed", "error": "postgres did not start"}, None)
    night = read_night(root)
    assert isinstance(night, Night) and not night.judged and night.verdict == "not run"
    assert "postgres did not start" in night.notes[0]


def test_bad_directories_are_skipped_with_the_reason_and_nothing_raises(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    _write(reports / "a-no-result", {"scenario": "x", "started_wall": "2026-11-01T00:00:00Z"},
           None)
    _write(reports / "b-array", "[1, 2]", None)
    _write(reports / "c-no-time", {"scenario": "x"}, OLD_RESULT)
    _write(reports / "20261101T000000Z-bad-metrics", {"scenario": "x"}, {"metrics": [1]})
    _write(reports / "20261101T000000Z-no-name", {}, {"metrics": {}})
    _write(reports / "20261101T000000Z-binary", None, None)
    (reports / "20261101T000000Z-binary" / "run.json").write_bytes(b"\xff\xfe\x00")
    _write(reports / "20261101T000000Z-suite-s", None, None)
    (reports / "20261101T000000Z-suite-s" / "suite.json").write_text(json.dumps(
        {"suite": "s", "runs": [{"scenario": "gone", "run_dir": "x-gone", "error": "boom"}]}))
    _write(reports / "compare-a-vs-b", None, None)  # compare's output: not listed
    (reports / "notes.txt").write_text("a file")
    found = collect(reports)
    assert found.nights == []
    reasons = {s.path.name: s.reason for s in found.skipped}
    assert "never judged" in reasons["a-no-result"]
    assert "expected a JSON object, got list" in reasons["b-array"]
    assert "no usable started_wall" in reasons["c-no-time"]
    assert "metrics must be an object" in reasons["20261101T000000Z-bad-metrics"]
    assert "no scenario name" in reasons["20261101T000000Z-no-name"]
    assert "not UTF-8" in reasons["20261101T000000Z-binary"]
    assert "suite scenario gone did not run: boom" in reasons["x-gone"]
    assert set(reasons) == {"a-no-result", "b-array", "c-no-time", "20261101T000000Z-bad-metrics",
                            "20261101T000000Z-no-name", "20261101T000000Z-binary", "x-gone"}
    assert all(isinstance(s, Skipped) for s in found.skipped)
