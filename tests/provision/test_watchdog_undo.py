"""The watchdog's undo list when its supervisor dies: proxies first, then the children, and a
proxy server that does not answer never keeps a child alive (the real watchdog module)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.integration


def test_an_unreachable_proxy_server_does_not_stop_the_children_ending(tmp_path: Path) -> None:
    """Provoke: the watchdog holds a proxy to delete on a server that refuses connections
    (port 1), a child to end and a directory to remove; its stdin closes without ``bye``.
    Must hold: it says it could not delete the proxy, the child is gone within 5 s, the
    directory too, and the watchdog exits 0."""
    victim = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                              start_new_session=True)
    doomed = tmp_path / "doomed dir"
    doomed.mkdir()
    watchdog = subprocess.Popen(
        [sys.executable, "-m", "harness.provision.watchdog", str(os.getpid())],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONPATH": str(ROOT)}, start_new_session=True, text=True)
    try:
        assert watchdog.stdin is not None
        watchdog.stdin.write(f"proxy http://127.0.0.1:1 postgres\nadd {victim.pid} "
                             f"{int(signal.SIGTERM)}\nrm {doomed}\n")
        watchdog.stdin.close()  # the supervisor died: no goodbye
        started = time.monotonic()
        assert victim.wait(timeout=5) is not None
        took = time.monotonic() - started
        assert watchdog.stdout is not None
        with watchdog.stdout:
            out = watchdog.stdout.read()  # end-of-file: the watchdog has finished
        assert watchdog.wait(timeout=10) == 0, out
        assert "could not delete proxy 'postgres' from http://127.0.0.1:1" in out, out
        assert not doomed.exists()
        assert took < 5.0
    finally:
        for proc in (victim, watchdog):  # only what this test started, by pid
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert not psutil.pid_exists(victim.pid) or \
            psutil.Process(victim.pid).status() == psutil.STATUS_ZOMBIE
