"""verify_run end to end on hand-made run directories: verdicts, expectations, exit codes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from verifykit import RunDirBuilder, steady_load

from harness.errors import ScenarioError, VerifyError
from harness.verify import exit_code_for, verify_run

SLOS = '''
[slo.steady]
availability = ">= 99%"
p99_latency_ms = "< 100"
[slo.recovery]
recovery_seconds = "< 5"
[slo.run]
lost_writes = "== 0"
duplicated_writes = "== 0"
'''


def _restart_run(root: Path, header: str, lose: bool = False, recover_at: float = 24.0,
                 final: bool = True) -> Path:
    """Postgres restarted 20..22 s; 503s until ``recover_at``; 50 writes, one lost if asked."""
    b = RunDirBuilder(root)
    b.scenario = header + SLOS
    b.bounds()
    b.fault(0, "postgres.restart", 20.0, 22.0)
    steady_load(b, 5.0, 20.0)
    steady_load(b, 20.0, recover_at, status=503)
    steady_load(b, recover_at, 65.0)
    rows = {}
    for i in range(50):
        b.write_attempt(6.0 + i, f"k-{i}", 201)
        rows[f"k-{i}"] = 1
    if lose:
        del rows["k-7"]
    if final:
        b.final_read(rows)
    for t in range(66):
        b.sample(float(t), ready=not 20 <= t < recover_at, breaker="closed",
                 app_proc={"rss_bytes": 100_000_000})
    return b.write()


def test_a_healthy_run_passes_and_writes_result_json(tmp_path: Path) -> None:
    """Restart with recovery 2 s after removal, nothing lost: every SLO passes, the verdict
    is pass, exit code 0, and result.json on disk equals the returned dict."""
    root = _restart_run(tmp_path / "run", 'name = "db-restart"\n')
    result = verify_run(root)
    assert result["verdict"] == "pass" and result["as_expected"] is True
    assert {s["id"]: s["verdict"] for s in result["slos"]} == {
        "availability@steady": "pass", "p99_latency_ms@steady": "pass",
        "recovery_seconds@recovery": "pass", "lost_writes@run": "pass",
        "duplicated_writes@run": "pass"}
    assert result["faults"][0]["recovery_s"] == pytest.approx(2.0)
    assert result["faults"][0]["detect_s"] == pytest.approx(0.0)
    assert exit_code_for(result) == 0
    assert json.loads((root / "result.json").read_text()) == result


def test_a_lost_write_fails_and_names_the_key_and_a_copied_dir_verifies_the_same(
    tmp_path: Path
) -> None:
    """k-7 acknowledged but absent from the final read: lost_writes@run fails with k-7 and
    its attempts as evidence; exit code 1. A copy of the directory gives the same result."""
    root = _restart_run(tmp_path / "run", 'name = "db-restart"\n', lose=True)
    result = verify_run(root)
    lost = next(s for s in result["slos"] if s["id"] == "lost_writes@run")
    assert lost["verdict"] == "fail" and lost["value"] == 1
    assert lost["evidence"]["keys"] == ["k-7"]
    assert lost["evidence"]["attempts"]["k-7"][0]["status"] == 201
    assert result["verdict"] == "fail" and exit_code_for(result) == 1
    copy = shutil.copytree(root, tmp_path / "copy")
    (copy / "result.json").unlink()
    again = verify_run(copy)
    again.pop("verify_seconds")
    result.pop("verify_seconds")
    assert again == result


def test_never_recovering_fails_recovery_with_a_reason(tmp_path: Path) -> None:
    """503s until the load ends: recovery_seconds has no value yet its SLO fails (forced),
    saying which fault did not recover."""
    root = _restart_run(tmp_path / "run", 'name = "x"\n', recover_at=65.0)
    slo = next(s for s in verify_run(root)["slos"] if s["id"] == "recovery_seconds@recovery")
    assert slo["verdict"] == "fail" and "fault-0 did not recover" in slo["evidence"]["reason"]


def test_no_final_read_is_unknown_and_not_as_expected(tmp_path: Path) -> None:
    """Without final_read.json the write SLOs are unknown, the run verdict is unknown (never
    pass) and a scenario expecting a pass exits 1."""
    result = verify_run(_restart_run(tmp_path / "run", 'name = "x"\n', final=False))
    assert result["writes"]["verdict"] == "unknown"
    assert result["verdict"] == "unknown" and result["as_expected"] is False
    assert exit_code_for(result) == 1


def test_negative_control_whose_named_slo_fails_is_as_expected(tmp_path: Path) -> None:
    """expect = "fail" naming lost_writes@run, and a write is lost: the verdict is fail but
    the run is as expected (exit 0)."""
    header = 'name = "naive"\nexpect = "fail"\nexpect_fail = ["lost_writes@run"]\n'
    result = verify_run(_restart_run(tmp_path / "run", header, lose=True))
    assert result["verdict"] == "fail" and result["as_expected"] is True
    assert exit_code_for(result) == 0


def test_negative_control_whose_detector_does_not_fire_is_not_as_expected(
    tmp_path: Path
) -> None:
    """The same control on a run where nothing was lost: the detector did not fire, so the
    control failed its purpose: as_expected false, the reason says so, exit 1."""
    header = 'name = "naive"\nexpect = "fail"\nexpect_fail = ["lost_writes@run"]\n'
    result = verify_run(_restart_run(tmp_path / "run", header))
    assert result["as_expected"] is False
    assert "detector did not fire" in result["expectation_reasons"][0]
    assert exit_code_for(result) == 1


def test_a_failed_run_exits_2_and_bad_inputs_name_the_file(tmp_path: Path) -> None:
    """run.json status failed -> exit 2; a missing directory, a missing scenario.toml and
    an unknown metric in an SLO are errors naming the thing."""
    root = _restart_run(tmp_path / "run", 'name = "x"\n')
    info = json.loads((root / "run.json").read_text())
    info.update(status="failed", error="postgres did not start")
    (root / "run.json").write_text(json.dumps(info))
    assert exit_code_for(verify_run(root)) == 2
    with pytest.raises(VerifyError, match="not a run directory"):
        verify_run(tmp_path / "nope")
    (root / "scenario.toml").write_text('name = "x"\n[slo.run]\nlost_write = "== 0"\n')
    with pytest.raises(ScenarioError, match=r"slo\.run\.lost_write.*lost_writes"):
        verify_run(root)
    (root / "scenario.toml").unlink()
    with pytest.raises(VerifyError, match="scenario.toml"):
        verify_run(root)


def test_failing_availability_names_its_first_failed_and_slowest_requests(
    tmp_path: Path
) -> None:
    """Steady load with 503s at 30.0 and 30.1 s and one 900 ms request at 40 s: the failing
    availability SLO's evidence lists those 503s first (in time order) and the slow request
    as the slowest, with its task name."""
    b = RunDirBuilder(tmp_path / "run")
    b.scenario = 'name = "x"\n[slo.steady]\navailability = ">= 99.9%"\n'
    b.bounds()
    steady_load(b, 10.0, 60.0)
    b.request(30.1, status=503).request(30.0, status=503, name="post_message")
    b.request(40.0, latency_ms=900.0, name="export")
    result = verify_run(b.write())
    (slo,) = result["slos"]
    assert slo["verdict"] == "fail"
    first = slo["evidence"]["first_failures"]
    assert [(r["t_s"], r["status"], r["name"]) for r in first[:2]] == [
        (30.0, 503, "post_message"), (30.1, 503, "read_history")]
    assert slo["evidence"]["slowest"][0]["name"] == "export"
    assert slo["evidence"]["slowest"][0]["latency_ms"] == 900.0


def test_memory_slo_on_a_short_run_is_unknown_with_the_reason(tmp_path: Path) -> None:
    """A 60 s run whose RSS climbs: memory_growth_mb_per_hour@run is unknown (not fail, not
    pass), and says the span is too short."""
    b = RunDirBuilder(tmp_path / "run")
    b.scenario = 'name = "x"\n[slo.run]\nmemory_growth_mb_per_hour = "< 50"\n'
    b.bounds()
    for t in range(66):
        b.sample(float(t), app_proc={"pid": 1, "rss_bytes": 60_000_000 + t * 200_000})
    (slo,) = verify_run(b.write())["slos"]
    assert slo["verdict"] == "unknown" and "too short" in slo["evidence"]["reason"]
    assert slo["value"] > 50


def _flap_run(root: Path, gap_ok_from: float) -> Path:
    """Postgres stopped 20..22 and again 30..32 s; after the first stop requests fail until
    ``gap_ok_from``; after the second they recover at 34 s."""
    b = RunDirBuilder(root)
    b.scenario = 'name = "flap"\n[slo.recovery]\nrecovery_seconds = "< 5"\n'
    b.bounds()
    b.fault(0, "postgres.stop", 20.0, 22.0, repeat=0).fault(0, "postgres.stop", 30.0, 32.0,
                                                             repeat=1)
    steady_load(b, 5.0, 20.0)
    steady_load(b, 20.0, gap_ok_from, status=503)
    steady_load(b, gap_ok_from, 30.0)
    steady_load(b, 30.0, 34.0, status=503)
    steady_load(b, 34.0, 65.0)
    return b.write()


def test_a_recovery_interrupted_by_the_next_flap_is_a_lower_bound(tmp_path: Path) -> None:
    """First flap: no ok request before the second flap 8 s after its removal -> recovery took
    at least 8 s, which alone breaks "< 5" (fail, not "did not recover"); the second flap
    recovers in 2 s. When the first gap fails only until 26 s, no 5 s window fits before the
    next flap, but recovery can have taken as little as 4 s: judged 4, it passes."""
    result = verify_run(_flap_run(tmp_path / "a", 30.0))
    (slo,) = result["slos"]
    assert slo["value"] == pytest.approx(2.0) and slo["judged_value"] == pytest.approx(8.0)
    assert slo["verdict"] == "fail"
    first = result["faults"][0]
    assert first["recovery_evidence"]["interrupted_by"] == "fault-0.1"
    assert result["faults"][1]["name"] == "fault-0.1"
    result = verify_run(_flap_run(tmp_path / "b", 26.0))
    (slo,) = result["slos"]
    assert slo["verdict"] == "pass" and slo["judged_value"] == pytest.approx(4.0)


def test_recovery_is_back_to_the_baseline_when_the_baseline_is_below_99(tmp_path: Path) -> None:
    """Before the fault 5 % of requests are shed (503) as a matter of course: recovery to
    >= 99 % would never come, so the bar is the 95 % baseline less 1 %; recovery is found
    once the fault's errors stop, and the rule used is recorded."""
    b = RunDirBuilder(tmp_path / "run")
    b.scenario = 'name = "x"\n[slo.recovery]\nrecovery_seconds = "< 5"\n'
    b.bounds()
    b.fault(0, "postgres.stop", 30.0, 32.0)
    for i in range(600):  # 5..65 s at 10 rps, every 20th request shed
        t = 5.0 + i / 10
        shed = i % 20 == 0 or 30.0 <= t < 33.0
        b.request(t, status=503 if shed else 200)
    result = verify_run(b.write())
    rule = result["recovery_rule"]
    assert rule["baseline_availability"] == pytest.approx(0.95)
    assert rule["min_ok_used"] == pytest.approx(0.94)
    (slo,) = result["slos"]
    assert slo["verdict"] == "pass" and 0.9 <= slo["value"] <= 1.2


def test_recovery_rule_from_the_verify_table(tmp_path: Path) -> None:
    """[verify] recovery_window = "2s" and recovery_min_ok = "90%" are used and recorded."""
    root = _restart_run(tmp_path / "run", 'name = "x"\n[verify]\nrecovery_window = "2s"\n'
                        'recovery_min_ok = "90%"\n')
    rule = verify_run(root)["recovery_rule"]
    assert rule["window_s"] == 2.0 and rule["min_ok"] == pytest.approx(0.9)


def test_an_online_violation_in_the_timeline_is_reported_with_the_writes(tmp_path: Path) -> None:
    """The conductor logged the online checker's finding: the writes section carries it, and
    the final accounting still judges lost_writes from the final read."""
    b = RunDirBuilder(tmp_path / "run")
    b.scenario = 'name = "x"\n[slo.run]\nlost_writes = "== 0"\n'
    b.bounds()
    b.write_attempt(10.0, "k1", 201).final_read({})
    b.event("online_violation", 12.0, key="k1", acked_t_s=10.005, read_started_t_s=11.0)
    result = verify_run(b.write())
    assert result["writes"]["online_violation"]["key"] == "k1"
    assert result["slos"][0]["verdict"] == "fail" and result["writes"]["lost"] == 1
