"""``chaosharness trend`` over real runs: three short runs of one scenario on the reference
app, the last with a write loss planted in the app (its write-behind switch). The runs are
real end to end (Postgres, proxy, Locust, verify, report); only their start times are moved
to three consecutive nights (the directory's name and ``started_wall`` in run.json), since
a test cannot wait for midnight. Exactly the planted night must be flagged, and trend must
exit 1."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from harness.cli import main
from harness.run import run_scenario

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SCENARIO = """
name = "nightly-writes"
seed = 5
duration = "12s"
warmup = "2s"
cooldown = "2s"

[target]
env = {env}

[load]
users = 20
spawn_rate = 20
wait_ms = [10, 50]
mix = {{ post_message = 8, read_history = 1, join_room = 1 }}

[[fault]]
at = "5s"
action = "app.kill"
restart_after = "1s"

[slo.run]
lost_writes = "== 0"
duplicated_writes = "== 0"
"""

NIGHT0 = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)


def _night(tmp_path: Path, reports: Path, night: int, planted: bool) -> Path:
    env = '{ REFERENCE_IMPL_PLANT_WRITE_BEHIND = "1" }' if planted else "{}"
    path = tmp_path / f"nightly-writes-{night}.toml"
    path.write_text(SCENARIO.format(env=env))
    outcome = run_scenario(path, reports_dir=tmp_path / "runs", quiet=True)
    assert outcome.status == "complete" and outcome.result is not None, outcome.error
    when = NIGHT0 + timedelta(days=night)
    moved = reports / f"{when:%Y%m%dT%H%M%SZ}-nightly-writes"
    shutil.move(str(outcome.run_dir), moved)
    run = json.loads((moved / "run.json").read_text())
    run["started_wall"] = when.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    (moved / "run.json").write_text(json.dumps(run, indent=2))
    return moved


def test_trend_over_real_runs_flags_the_planted_night(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    reports = tmp_path / "reports"
    reports.mkdir()
    nights = [_night(tmp_path, reports, n, planted=(n == 2)) for n in range(3)]
    verdicts = [json.loads((n / "result.json").read_text())["verdict"] for n in nights]
    assert verdicts == ["pass", "pass", "fail"], verdicts  # the plant lost acknowledged writes
    capsys.readouterr()
    code = main(["trend", str(reports), "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 1 and doc["exit_code"] == 1
    (ep,) = doc["regressions"]
    assert ep["scenario"] == "nightly-writes" and ep["rule"] == "verdict" and ep["ongoing"]
    assert ep["began_run_dir"] == str(nights[2]) and ep["last_good_run_dir"] == str(nights[1])
    series = doc["scenarios"]["nightly-writes"]["nights"]
    assert [n["run_dir"] for n in series] == [str(p) for p in nights]
    assert [n["flags"] for n in series] == [[], [], ["verdict"]]
    assert (reports / "trend.md").is_file() and (reports / "trend.html").is_file()
