"""A conductor SIGKILLed mid-fault leaves no fault behind on a proxy server it does not own.

The embedded proxy, started here, stands in for a real Toxiproxy given by ``[proxy] url``
(one that outlives runs). The run's ``network.latency`` is on when the conductor is
SIGKILLed; its watchdog must delete the run's proxies (and so their toxics) through the
API within seconds, leave another user's proxy alone, and end the run's processes.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from embedded_proxy_server import serve_embedded_proxy

from harness.provision.process import Supervisor
from harness.provision.ready import wait_until

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]

SCENARIO = """
name = "killed-mid-fault"
description = "the conductor is SIGKILLed while a latency toxic is on a proxy it does not own"
seed = 5
duration = "60s"
warmup = "1s"

[proxy]
kind = "toxiproxy"
url = "{proxy_url}"

[[dependency]]
name = "cache"
upstream = "127.0.0.1:9"

[load]
users = 2
spawn_rate = 2
wait_ms = [100, 200]
mix = {{ post_message = 1, read_history = 1 }}

[[fault]]
at = "1s"
for = "50s"
action = "network.latency"
latency = 40
jitter = 0
"""


@pytest.fixture
def proxy_url(tmp_path: Path) -> Iterator[str]:
    """The embedded proxy server, started here and handed to the run by URL only."""
    with Supervisor(tmp_path / "proxy-logs") as sup:
        yield serve_embedded_proxy(sup)


def _descendants(pid: int) -> list[psutil.Process]:
    with contextlib.suppress(psutil.Error):
        return psutil.Process(pid).children(recursive=True)
    return []


def test_watchdog_deletes_the_runs_proxies_after_a_sigkill(proxy_url: str, tmp_path: Path) -> None:
    """Provoke: SIGKILL the conductor while its latency toxic is on the "postgres" proxy of a
    server it does not own. Must hold: within 5 s the run's proxies ("postgres", "cache") are
    gone, toxics and all; "not-ours" is untouched; every process of the run has ended."""
    api = httpx.Client(base_url=proxy_url, timeout=5, trust_env=False)
    assert api.post("/proxies", json={"name": "not-ours", "upstream": "127.0.0.1:9"}).status_code == 201
    path = tmp_path / "killed.toml"
    path.write_text(SCENARIO.format(proxy_url=proxy_url))
    harness = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "run", str(path), "--reports", str(tmp_path / "r"),
         "--quiet"], env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=tmp_path,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    family: list[psutil.Process] = []
    try:
        def toxic_on() -> bool:
            if harness.poll() is not None:
                raise AssertionError(f"the run ended before its fault: {harness.returncode}")
            reply = api.get("/proxies/postgres/toxics")
            return reply.status_code == 200 and bool(reply.json())

        wait_until(toxic_on, 120.0, what="the run's latency toxic")
        assert "cache" in api.get("/proxies").json()
        family = _descendants(harness.pid)
        os.kill(harness.pid, signal.SIGKILL)
        harness.wait(10)
        killed = time.monotonic()
        wait_until(lambda: set(api.get("/proxies").json()) == {"not-ours"}, 5.0,
                   what="the run's proxies deleted by its watchdog")
        took = time.monotonic() - killed
        assert api.get("/proxies/not-ours").json()["enabled"] is True
        _gone, alive = psutil.wait_procs(family, timeout=15)
        assert alive == [], [p.pid for p in alive]
        assert took < 5.0
        (run_dir,) = (tmp_path / "r").iterdir()
        said = (run_dir / "logs" / "watchdog.log").read_text()
        assert "deleted proxy 'postgres'" in said and "deleted proxy 'cache'" in said, said
    finally:
        api.close()
        if harness.poll() is None:
            harness.kill()
            harness.wait()
        for proc in family:  # only what this test started, by pid
            with contextlib.suppress(psutil.Error):
                if proc.is_running():
                    proc.kill()
