"""The run-directory records (harness/records): each reads back what it writes, a file of an
older format still reads, a newer one is refused with the reason, and the package imports
nothing but the standard library (the Locust process imports it)."""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

import pytest

from harness.errors import ReportError, VerifyError
from harness.records import (
    FORMAT_VERSION,
    LEGACY_FORMAT,
    FaultEffect,
    FinalReadRecord,
    RecordError,
    ResultRecord,
    RunInfo,
    Sample,
    TimelineEvent,
)
from harness.report.rundata import load_run
from harness.verify import verify_run
from harness.verify.rundir import RunFiles

RECORDS = Path(__file__).resolve().parents[2] / "harness" / "records"


def _result() -> ResultRecord:
    return ResultRecord(
        scenario="s", run_id="r", run_status="complete", error=None, expect="pass",
        expect_fail=[], verdict="pass", as_expected=True, expectation_reasons=[],
        phases=[{"name": "steady-0"}], metrics={"run": {"requests": 3}},
        metrics_by_phase={}, rate_counts={}, slos=[], faults=[], writes={"lost": 0}, load={},
        memory={},
        process={}, recovery_rule={}, seed=7, profile="resilient", verify_seconds=0.1)


@pytest.mark.parametrize("record", [
    TimelineEvent("run_end", 70.0, "2026-01-01T00:00:00Z", extra={"status": "complete"}),
    TimelineEvent("apply", 20.0, "w", fault=1, repeat=0, action="network.down",
                  params={"proxy": "payments"}, effect=FaultEffect("link", "remove", "payments"),
                  planned_t_s=20.0, ok=True, duration_s=0.1, detail={}),
    TimelineEvent("remove", 21.0, "w", fault=0, repeat=0, action="postgres.stop", params={},
                  effect=FaultEffect("postgres", "restart"), ok=False, error="E: x",
                  duration_s=0.0, rollback=True),
    Sample(t_s=1.0, wall="w", tick=1, lag_ms=0.5, missing=["app_stats"], ready=True,
           pool={"max": 10}, app_proc={"pid": 3, "rss_bytes": 100}),
    RunInfo(scenario="s", run_id="r", status="complete", seed=7, warmup_s=5.0,
            app={"url": "http://x", "exits": []}, versions={"python": "3"}),
    FinalReadRecord(ok=True, sql="select 1", reads=2, agreed=True, t_s=70.0, rows={"k": 1}),
    _result(),
])
def test_each_record_reads_back_what_it_writes(record: object) -> None:
    line = json.loads(json.dumps(record.to_json()))  # type: ignore[attr-defined]
    assert type(record).from_json(line) == record  # type: ignore[attr-defined]


@pytest.mark.parametrize("parse", [RunInfo.from_json, FinalReadRecord.from_json,
                                   ResultRecord.from_json])
def test_a_newer_format_is_refused_and_an_unversioned_file_is_format_1(parse: object) -> None:
    with pytest.raises(RecordError, match="newer than this chaosharness reads"):
        parse({"format": FORMAT_VERSION + 1})  # type: ignore[operator]
    assert parse({}).format == LEGACY_FORMAT  # type: ignore[operator]


def test_verify_and_report_refuse_a_newer_run_directory_with_the_reason(tmp_path: Path) -> None:
    """A run.json of a newer format: verify refuses it (VerifyError), as does the report for a
    newer result.json (ReportError); both messages say why."""
    (tmp_path / "scenario.toml").write_text('name = "x"\n')
    (tmp_path / "run.json").write_text(json.dumps({"format": FORMAT_VERSION + 1}))
    with pytest.raises(VerifyError, match="newer"):
        verify_run(tmp_path)
    (tmp_path / "run.json").write_text(json.dumps({"scenario": "x"}))
    (tmp_path / "result.json").write_text(json.dumps({"format": FORMAT_VERSION + 1}))
    with pytest.raises(ReportError, match="newer"):
        load_run(tmp_path)


def test_an_old_timeline_line_reads_and_verify_fills_its_effect(tmp_path: Path) -> None:
    """A format-1 line (no ``affects``): the record has no effect; verify's reader takes the
    catalogue's, so an old run directory is judged as before."""
    old = {"event": "apply", "t_s": 10.0, "fault": 0, "action": "postgres.stop",
           "params": {"mode": "fast"}, "ok": True, "error": None}
    assert TimelineEvent.from_json(old).effect is None
    (tmp_path / "timeline.jsonl").write_text(json.dumps(old) + "\n")
    (event,) = RunFiles(tmp_path).timeline()
    assert event.effect == FaultEffect("postgres", "restart")


def test_the_records_import_only_the_standard_library() -> None:
    for path in sorted(RECORDS.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                top = name.split(".")[0]
                assert name.startswith("harness.records") or top in sys.stdlib_module_names \
                    or top == "__future__", f"{path.name} imports {name}"
