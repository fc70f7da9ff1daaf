"""``chaosharness trend`` on a reports directory of hand-made nights judged by verify_run.

Each night is a 60 s run with a Postgres restart at 20..22 s and 503s until it
recovers; verify writes the real result.json. Nights sit both directly under the
reports directory and inside suite directories, next to a malformed directory and a
replay. A regression is planted in the last night; exactly it must be flagged, with
the night it began, and the command must exit 1. A clean history exits 0.
"""

from __future__ import annotations

import json
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from test_report_browser import _PROBE, CHROMIUM, _chromium

from harness.cli import main
from harness.provision.process import Supervisor
from harness.verify import verify_run

# the verify tests' run-directory builder (tests/verify is not a package)
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "verify"))
from verifykit import RunDirBuilder, steady_load  # noqa: E402

T0 = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
SLOS = '''
[slo.steady]
availability = ">= 99%"
[slo.recovery]
recovery_seconds = "< 30"
[slo.run]
lost_writes = "== 0"
'''


def make_night(reports: Path, day: int, scenario: str = "db-restart", recovery: float = 2.0,
               lose: bool = False, suite: str | None = None, **run: Any) -> Path:
    """One judged night ``day`` days after T0: recovers ``recovery`` s after the removal."""
    started = T0 + timedelta(days=day)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    parent = reports / f"{stamp}-suite-{suite}" if suite else reports
    if suite:
        parent.mkdir(parents=True, exist_ok=True)
        (parent / "suite.json").write_text(json.dumps({"suite": suite, "runs": [
            {"scenario": scenario, "run_dir": f"{stamp}-{scenario}"}]}))
    b = RunDirBuilder(parent / f"{stamp}-{scenario}")
    b.scenario = f'name = "{scenario}"\n' + SLOS
    b.run.update(scenario=scenario, run_id=f"{stamp}-{scenario}",
                 started_wall=started.isoformat().replace("+00:00", "Z"), **run)
    b.bounds()
    recover_at = 22.0 + recovery
    b.fault(0, "postgres.restart", 20.0, 22.0)
    steady_load(b, 5.0, 20.0)
    steady_load(b, 20.0, recover_at, status=503)
    steady_load(b, recover_at, 65.0)
    rows = {}
    for i in range(20):
        b.write_attempt(6.0 + i, f"k-{day}-{i}", 201)
        rows[f"k-{day}-{i}"] = 1
    if lose:
        del rows[f"k-{day}-3"]
    b.final_read(rows)
    for t in range(66):
        b.sample(float(t), ready=not 20 <= t < recover_at, app_proc={"rss_bytes": 100_000_000})
    root = b.write()
    verify_run(root)
    return root


def history(reports: Path, **last: Any) -> list[Path]:
    """Six nights of db-restart (the last one with ``last``), two of them in suites, and
    six clean nights of a second scenario; plus a malformed directory and a replay."""
    nights = [make_night(reports, d, suite="nightly" if d in (2, 3) else None,
                         recovery=3.0 if d == 1 else 2.0) for d in range(5)]
    nights.append(make_night(reports, 5, **last))
    for d in range(6):
        make_night(reports, d, scenario="network-latency", suite="nightly" if d == 2 else None)
    broken = reports / "20261121T000000Z-broken"
    broken.mkdir()
    (broken / "run.json").write_text("{not json")
    (reports / "scratch").mkdir()
    replay = make_night(reports, 6, replay_of=str(nights[0]))
    assert replay.is_dir()
    return nights


def trend(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    capsys.readouterr()
    code = main(["trend", *args, "--json"])
    return code, json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("plant, rule", [({"recovery": 8.0}, "recovery"),
                                         ({"lose": True}, "verdict")])
def test_a_planted_regression_in_the_last_night_is_flagged_and_exits_1(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], plant: dict[str, Any],
        rule: str) -> None:
    reports = tmp_path / "reports"
    nights = history(reports, **plant)
    code, doc = trend(capsys, str(reports))
    assert code == 1 and doc["exit_code"] == 1
    assert (reports / "trend.md").is_file() and (reports / "trend.html").is_file()
    (ep,) = doc["regressions"]
    assert ep["scenario"] == "db-restart" and ep["rule"] == rule and ep["ongoing"]
    assert ep["began_run_dir"] == str(nights[5]) and ep["last_good_run_dir"] == str(nights[4])
    assert ep["compare"] == f"chaosharness compare {nights[4]} {nights[5]}"
    assert doc["ongoing"] == [ep]
    db = doc["scenarios"]["db-restart"]
    assert len(db["nights"]) == 6 and db["last_night_regressed"]
    assert [n["flags"] for n in db["nights"]] == [[]] * 5 + [[rule]]
    assert [n["run_dir"] for n in db["nights"]] == [str(p) for p in nights]  # by start time
    assert not doc["scenarios"]["network-latency"]["last_night_regressed"]
    skipped = {Path(s["path"]).name: s["reason"] for s in doc["skipped"]}
    assert set(skipped) == {"20261121T000000Z-broken", "scratch", "20261126T020000Z-db-restart"}
    assert "invalid JSON" in skipped["20261121T000000Z-broken"]
    assert "no run.json" in skipped["scratch"]
    assert "replay" in skipped["20261126T020000Z-db-restart"]
    md = (reports / "trend.md").read_text()
    assert "REGRESSED: 1 ongoing regression(s)" in md
    assert ep["compare"] in md and str(nights[5] / "report.html") in md
    page = (reports / "trend.html").read_text()
    assert page.count('src="data:image/png;base64,') == 2 and "<script" not in page


def test_the_recovery_regression_reads_real_verify_figures(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    reports = tmp_path / "reports"
    history(reports, recovery=8.0)
    _, doc = trend(capsys, str(reports))
    db = doc["scenarios"]["db-restart"]["nights"]
    assert [round(n["recovery_s"]) for n in db] == [2, 3, 2, 2, 2, 8]
    assert all(n["verdict"] == "pass" and n["as_expected"] for n in db)
    assert db[0]["steady_up_from"] == "uptime" and db[0]["steady_up"] == 1.0
    assert db[0]["steady_s"] == pytest.approx(10.0 + (65.0 - 24.0), abs=1.0)
    assert db[0]["lost_writes"] == 0 and db[0]["p99_ms"]["steady"] == pytest.approx(5.0)
    ep = doc["regressions"][0]
    assert ep["value"] == pytest.approx(8.0, abs=0.2) and ep["baseline"] == pytest.approx(2.0,
                                                                                          abs=0.2)


def test_a_clean_history_exits_0_and_out_and_since_apply(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    reports, out = tmp_path / "reports", tmp_path / "out"
    history(reports)
    code, doc = trend(capsys, str(reports), "--out", str(out), "--since", "3d",
                      "--uptime-slo", "99.5%")
    assert code == 0 and doc["regressions"] == [] and doc["ongoing"] == []
    assert (out / "trend.md").is_file() and (out / "trend.html").is_file()
    assert not (reports / "trend.md").exists()
    assert doc["uptime_slo"] == pytest.approx(0.995)
    assert len(doc["scenarios"]["db-restart"]["nights"]) == 4  # days 2..5: within 3 d of day 5
    assert doc["nights_before_since"] == 4
    u = doc["uptime"]["7d"]
    assert u["uptime"] == 1.0 and u["spent_minutes"] == 0.0 and u["budget_used"] == 0.0
    assert u["nights"] == 8
    capsys.readouterr()
    assert main(["trend", str(reports), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "skipped" in printed and str(out / "trend.html") in printed


def test_downtime_in_a_steady_phase_spends_the_budget(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """One night not ready for 6 of its ~51 steady seconds (no fault then): the budget of
    the 7-day window is spent more than 100 %, and the SLO is missed; the rule is in md."""
    reports = tmp_path / "reports"
    root = make_night(reports, 0)
    samples = [json.loads(line) for line in (root / "samples.jsonl").read_text().splitlines()]
    for s in samples:
        if 40 <= s["t_s"] < 46:
            s["ready"] = False
    (root / "samples.jsonl").write_text("".join(json.dumps(s) + "\n" for s in samples))
    verify_run(root)
    code, doc = trend(capsys, str(reports))
    assert code == 0
    u = doc["uptime"]["7d"]
    assert u["down_minutes"] > 0 and u["budget_used"] > 1.0 and u["met"] is False
    assert "only steady phases are meant to be available" in (reports / "trend.md").read_text()


def test_a_missing_reports_dir_exits_2(tmp_path: Path) -> None:
    assert main(["trend", str(tmp_path / "nope")]) == 2
    assert main(["trend", str(tmp_path), "--uptime-slo", "lots"]) == 2


def test_an_empty_reports_dir_says_so_and_exits_0(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    code, doc = trend(capsys, str(tmp_path))
    assert code == 0 and doc["scenarios"] == {} and doc["as_of"] is None
    assert "No nights found." in (tmp_path / "trend.md").read_text()


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary on PATH (apt-get install "
                                             "chromium)")
def test_trend_html_opens_in_headless_chromium(tmp_path: Path, supervisor: Supervisor,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """Every plot decodes, no page error, no sideways scrolling at 1024 px."""
    reports = tmp_path / "reports"
    history(reports, recovery=8.0)
    trend(capsys, str(reports))
    probe = tmp_path / "probe.html"
    probe.write_text((reports / "trend.html").read_text().replace("<head>", "<head>" + _PROBE, 1))
    code, out = _chromium(supervisor, "chromium-trend",
                          ["--virtual-time-budget=10000", "--window-size=1024,900",
                           "--dump-dom", probe.as_uri()], tmp_path / "profile")
    found = re.search(r'<pre id="__probe">(.*?)</pre>', out, flags=re.S)
    assert found, f"no probe output; chromium exit {code}: {out[-2000:]}"
    state = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert len(state["imgs"]) == 2
    assert all(w > 0 and h > 0 for _, w, h in state["imgs"]), state["imgs"]
    assert state["errs"] == []
    assert state["scroll"] <= state["client"], state
