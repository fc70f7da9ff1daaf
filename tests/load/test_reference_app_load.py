"""The locustfile against the real reference app on a real Postgres: the API contract holds.

Provokes a short, fault-free load with every task of the mix on the resilient app and
checks what must hold: every task succeeds, and every acknowledged key is in the
messages table exactly once (read straight from Postgres with the default final-read SQL).
"""

from __future__ import annotations

import csv
import os
import re
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from harness.load.command import locust_argv, merge_request_files
from harness.load.config import LoadRunConfig
from harness.provision.pg_probe import fetch
from harness.provision.process import Supervisor
from harness.provision.ready import wait_until
from harness.scenario import DEFAULT_WRITES_SQL, TASKS

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _ready(url: str) -> bool:
    try:
        return httpx.get(url + "/health/ready", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def test_every_task_against_the_reference_app(tmp_path: Path, fresh_db: str) -> None:
    """All six tasks succeed against the real app; acked keys land exactly once."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("CHAOSHARNESS_LOAD_CONFIG", None)
    with Supervisor(tmp_path / "logs") as sup:
        app = sup.spawn("app", [sys.executable, "-m", "reference_impl", "serve", "--port", "0",
                                "--dsn", fresh_db], env=env, cwd=ROOT)
        found: list[str] = []

        def listening() -> bool:
            found[:] = re.findall(r"listening on (http://\S+)", app.log_path.read_text())
            return bool(found) or not app.alive

        wait_until(listening, 60.0, what="reference app to listen")
        assert found, app.log_tail(40)
        url = found[0]
        wait_until(lambda: _ready(url), 60.0, what="reference app ready",
                   on_timeout=lambda: app.log_tail(40))
        requests_dir = tmp_path / "requests"
        requests_dir.mkdir()
        config = LoadRunConfig(
            mix=dict.fromkeys(TASKS, 1) | {"post_message": 4}, requests_dir=str(requests_dir),
            t0_monotonic=time.monotonic(), run_time_s=5.0, seed=3, users=5, spawn_rate=10,
            wait_ms=(10, 50), request_timeout_s=2.0,
        ).write(tmp_path / "load.json")
        locust = sup.spawn("locust", locust_argv(config, url, workers=0, users=5, spawn_rate=10,
                                                 run_time_s=5.0), env=env, cwd=tmp_path)
        assert locust.wait(timeout=60) == 0, locust.log_tail(40)
    merge_request_files(requests_dir, tmp_path / "requests.csv")
    with (tmp_path / "requests.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    failed = [r for r in rows if r["ok"] != "1"]
    assert not failed, failed[:5]
    assert set(Counter(r["name"] for r in rows)) == set(TASKS)
    acked = {r["write_key"] for r in rows if r["ack"] == "1"}
    assert len(acked) > 10
    stored = {row[0]: row[1] for row in fetch(fresh_db, DEFAULT_WRITES_SQL)}
    assert acked <= set(stored) and all(stored[k] == 1 for k in acked)
