"""No orphans: a parent that owns an embedded Postgres (or any supervised child) is ended
by normal exit, SIGINT, SIGTERM and SIGKILL; within 5 s none of the processes it owned is
left, checked by pid."""

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

OWNER = Path(__file__).with_name("owner.py")
ROOT = Path(__file__).resolve().parents[2]


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _start_owner(what: str, mode: str) -> tuple[subprocess.Popen[str], list[int], dict[str, str]]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, str(OWNER), what, mode], stdout=subprocess.PIPE, stdin=subprocess.PIPE,
        text=True, env=env,
        start_new_session=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line, f"owner printed nothing (exit {proc.wait(10)})"
    info = json.loads(line)
    return proc, info["pids"], info


@pytest.mark.integration
@pytest.mark.parametrize("what", ["postgres", "child"])
@pytest.mark.parametrize("how", ["exit", "SIGINT", "SIGTERM", "SIGKILL"])
def test_no_process_outlives_its_owner(what: str, how: str) -> None:
    """Provoke: end the owner by `how`. Must hold: every pid it owned is gone within 5 s."""
    proc, pids, info = _start_owner(what, "exit" if how == "exit" else "wait")
    try:
        # the root (the postmaster, or the child) must run; a short-lived Postgres child (the
        # backend of the start's readiness query) may already be gone when the list is read
        assert pids and _alive(pids[0]), "the owned process should be running"
        if how == "exit":
            assert proc.stdin is not None
            proc.stdin.write("exit\n")
            proc.stdin.flush()
        else:
            os.kill(proc.pid, getattr(signal, how))
        proc.wait(timeout=30)
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline and any(_alive(p) for p in pids):
            time.sleep(0.05)
        left = [p for p in pids if _alive(p)]
        assert not left, f"processes left after the owner ended by {how}: {left}"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stdin):
            if stream is not None:
                stream.close()
        for pid in pids:  # never leave a server behind, even when the assertion failed
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
    if what == "postgres":  # after SIGKILL the watchdog removes it, once Postgres is gone
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline and Path(info["base"]).exists():
            time.sleep(0.05)
        assert not Path(info["base"]).exists(), f"the temp dir should be removed ({how})"
