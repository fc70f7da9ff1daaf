"""The error boundary in a real process writing to its real stderr: the harness counts
``unhandled_error`` lines in the app's log, so each error must be exactly one JSON line
and no raw traceback may leak, whatever the source."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from harness.provision.process import Supervisor

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[3]
CHILD = Path(__file__).with_name("boundary_child.py")


def test_every_unhandled_error_is_one_json_line(supervisor: Supervisor) -> None:
    """Errors from a spawned task, an orphaned task, a loop callback, a thread and the
    top level give five JSON lines with their sources; the process kept running until the
    top-level error (it printed after the others) and exits 1."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    child = supervisor.spawn("boundary-child", [sys.executable, str(CHILD)], env=env)
    code = child.wait(30)
    log = child.log_path.read_text()
    assert code == 1, log
    lines = log.splitlines()
    assert "still alive" in lines, log
    records = [json.loads(line) for line in lines if line != "still alive"]
    assert all(r["event"] == "unhandled_error" for r in records), log
    assert sorted((r["source"], r["type"]) for r in records) == [
        ("asyncio", "ZeroDivisionError"),
        ("sys.excepthook", "RuntimeError"),
        ("task:orphan", "KeyError"),
        ("task:spawned", "ValueError"),
        ("thread:worker", "ConnectionResetError"),
    ], log
    assert not any(line.startswith("Traceback") for line in lines)
    assert all(r["traceback"].startswith("Traceback") for r in records)
