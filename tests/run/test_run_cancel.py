"""Cancellation on real processes: a double Ctrl-C during a Postgres freeze still rolls the freeze
back and leaves no process of the run stopped or running; SIGTERM stops a suite after the
scenario under way, which is marked incomplete, and no further scenario starts."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]

SCENARIO = """\
name = "{name}"
description = "A short run for the cancellation tests"
seed = 11
duration = "{duration}"
warmup = "2s"
cooldown = "1s"

[load]
users = 4
spawn_rate = 4
wait_ms = [50, 100]
mix = {{ post_message = 4, read_history = 2 }}
{faults}
[observe]
tick = "1s"
memory_every = "5s"

[slo.run]
lost_writes = "== 0"
"""

FREEZE = """
[[fault]]
at = "3s"
for = "20s"
action = "postgres.freeze"
"""


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def _events(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def _recorded_pids(run_dir: Path) -> set[int]:
    return {int(e["pid"]) for e in _events(run_dir / "logs" / "processes.jsonl") if e["event"] == "start"}


def _left(pids: set[int]) -> dict[int, str]:
    """The pids still present (running or stopped; zombies are gone for good), with their state."""
    out = {}
    for pid in pids:
        try:
            status = psutil.Process(pid).status()
        except psutil.Error:
            continue
        if status != psutil.STATUS_ZOMBIE:
            out[pid] = status
    return out


def _start(argv: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "harness.cli", *argv], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=_env(), start_new_session=True, cwd=ROOT)


def _wait_for(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"{what} did not happen within {timeout}s")


def _end(proc: subprocess.Popen[bytes], pids: set[int]) -> None:
    """Clean up after a failed test, by pid only."""
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    for pid in _left(pids):
        for sig in (signal.SIGCONT, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)


@pytest.mark.parametrize("how", ["double-SIGINT", "SIGKILL"])
def test_a_stop_during_a_freeze_leaves_nothing_frozen(tmp_path: Path, how: str) -> None:
    """Provoke: SIGINT twice, 0.5 s apart, while Postgres is frozen (the second forces the
    stop while Locust drains), or SIGKILL of the conductor then. Must hold: no process the run
    recorded is left stopped or running (after SIGKILL the watchdog resumes and ends them);
    after the double SIGINT the freeze's rollback `remove` line is in the timeline, before
    `load_stop`, run.json is incomplete, exit 2."""
    scenario = tmp_path / "freeze.toml"
    scenario.write_text(SCENARIO.format(name="cancel-freeze", duration="30s", faults=FREEZE))
    reports = tmp_path / "reports"
    proc = _start(["run", str(scenario), "--reports", str(reports), "--quiet"])
    pids: set[int] = set()
    try:
        run_dir = _wait_for(lambda: next(iter(reports.glob("*-cancel-freeze")), None), 30, "the run dir")
        timeline = run_dir / "timeline.jsonl"
        _wait_for(lambda: any(e["event"] == "apply" and e.get("ok") for e in _events(timeline)),
                  60, "the freeze")
        pids = _recorded_pids(run_dir)
        assert any(s == psutil.STATUS_STOPPED for s in _left(pids).values()), "postgres is frozen"
        if how == "SIGKILL":
            os.kill(proc.pid, signal.SIGKILL)
        else:
            os.kill(proc.pid, signal.SIGINT)
            time.sleep(0.5)
            os.kill(proc.pid, signal.SIGINT)
        code = proc.wait(timeout=40)
        pids |= _recorded_pids(run_dir)
        deadline = time.monotonic() + 8.0  # the watchdog: SIGCONT, stop signal, 2 s, SIGKILL
        while _left(pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _left(pids), f"left after {how}: {_left(pids)}"
    finally:
        _end(proc, pids)
    if how == "SIGKILL":
        return
    assert code == 2
    run = json.loads((run_dir / "run.json").read_text())
    assert run["status"] == "incomplete", run
    events = _events(timeline)
    removes = [e for e in events if e["event"] == "remove" and e["action"] == "postgres.freeze"]
    assert len(removes) == 1 and removes[0]["rollback"] is True and removes[0]["ok"] is True
    order = [e["event"] for e in events]
    assert order.index("remove") < order.index("load_stop"), "faults are undone before the load stops"
    assert order[-1] == "run_end"


def test_sigterm_stops_a_suite_after_the_scenario_under_way(tmp_path: Path) -> None:
    """Provoke: SIGTERM to `chaosharness suite` 10 s into the first of two scenarios. Must hold:
    exit 2 within 30 s, no run directory for the second scenario, the summary written and the
    first scenario listed in it as incomplete."""
    for name in ("cancel-first", "cancel-second"):
        (tmp_path / f"{name}.toml").write_text(SCENARIO.format(name=name, duration="40s", faults=""))
    suite = tmp_path / "cancel.toml"
    suite.write_text('name = "cancel"\ndescription = "two short scenarios"\n'
                     'scenarios = ["cancel-first.toml", "cancel-second.toml"]\n')
    reports = tmp_path / "reports"
    proc = _start(["suite", str(suite), "--reports", str(reports), "--quiet"])
    pids: set[int] = set()
    try:
        time.sleep(10.0)
        suite_dir = next(iter(reports.glob("*-suite-cancel")))
        first = next(iter(suite_dir.glob("*-cancel-first")))
        pids = _recorded_pids(first)
        assert (first / "run.json").is_file()
        os.kill(proc.pid, signal.SIGTERM)
        started = time.monotonic()
        code = proc.wait(timeout=30)
        took = time.monotonic() - started
        pids |= _recorded_pids(first)
        assert not _left(pids), f"left after SIGTERM: {_left(pids)}"
    finally:
        _end(proc, pids)
    assert code == 2, f"exit {code} after {took:.1f}s"
    assert not list(suite_dir.glob("*-cancel-second")), "the second scenario must not start"
    assert json.loads((first / "run.json").read_text())["status"] == "incomplete"
    doc = json.loads((suite_dir / "suite.json").read_text())
    assert doc["status"] == "incomplete" and doc["stopped_by"] == "SIGTERM"
    assert [r["status"] for r in doc["runs"]] == ["incomplete"]
    assert doc["not_run"] == [str(tmp_path / "cancel-second.toml")]
    summary = (suite_dir / "summary.md").read_text()
    row = next(line for line in summary.splitlines() if "cancel-first" in line)
    assert "incomplete" in row
    assert "cancel-second" in summary  # named as not run
