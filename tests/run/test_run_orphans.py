"""No orphans after a run: the conductor (`chaosharness run`) ended normally, by Ctrl-C and by
SIGKILL leaves none of its processes (Postgres and its backends, the proxy, the app, Locust)
behind, checked by pid; a Ctrl-C'd run leaves a consistent run directory marked incomplete."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

pytestmark = pytest.mark.integration
SHORT = Path(__file__).with_name("scenarios") / "short.toml"
ROOT = Path(__file__).resolve().parents[2]


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _cmdline(pid: int) -> str:
    """The process' command line; "" once it has exited or is a zombie (between two looks)."""
    try:
        return " ".join(psutil.Process(pid).cmdline())
    except psutil.Error:
        return ""


def _descendants(pid: int) -> set[int]:
    try:
        return {p.pid for p in psutil.Process(pid).children(recursive=True)}
    except psutil.Error:
        return set()


def _wait_for_load(proc: subprocess.Popen[bytes], seen: set[int], timeout: float) -> None:
    """Wait until Locust runs (so every kind of child exists), collecting descendants."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = _descendants(proc.pid)
        seen |= now
        names = " ".join(_cmdline(p) for p in now)
        if "locust" in names and "reference_impl" in names and "postgres" in names:
            time.sleep(2.0)
            seen |= _descendants(proc.pid)
            return
        time.sleep(0.2)
    raise AssertionError(f"the run did not reach its load phase within {timeout}s")


@pytest.mark.parametrize("how", ["SIGINT", "SIGKILL"])
def test_no_orphans_after_the_conductor_ends(tmp_path: Path, how: str) -> None:
    """Provoke: end the conductor mid-load by `how`. Must hold: within 5 s (10 s for a drained
    Ctrl-C) none of the processes it started is alive; Ctrl-C marks the run incomplete."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "run", str(SHORT), "--reports", str(tmp_path), "--quiet"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, start_new_session=True,
    )
    seen: set[int] = set()
    try:
        _wait_for_load(proc, seen, timeout=90.0)
        os.kill(proc.pid, getattr(signal, how))
        proc.wait(timeout=90)
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline and any(_alive(p) for p in seen):
            time.sleep(0.1)
        left = {p: " ".join(psutil.Process(p).cmdline()) for p in seen if _alive(p)}
        assert not left, f"left after {how}: {left}"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pid in seen:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
    if how == "SIGINT":
        run_dirs = [p for p in tmp_path.iterdir() if p.is_dir()]
        assert len(run_dirs) == 1
        run = json.loads((run_dirs[0] / "run.json").read_text())
        assert run["status"] == "incomplete"
        assert proc.returncode == 2
        events = [json.loads(x) for x in (run_dirs[0] / "timeline.jsonl").read_text().splitlines()]
        assert events[-1]["event"] == "run_end"
