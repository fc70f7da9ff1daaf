"""A user's own locustfile reaches a remote load worker from the master, not from the disk.

Loopback variant of tests/run/test_scale_out.py: the conductor and one ``chaosharness
load-worker`` on 127.0.0.1. To show the worker cannot have read the file from a shared
disk, the scenario's locustfile is moved away once the master has started (it reads the
file once, at start) and before the worker is started; the worker runs it from its own
temporary directory and its rows arrive on the master.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.provision.ports import free_port
from harness.requests_file import REQUESTS_GZ, open_requests

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.integration, pytest.mark.slow]

SCENARIO = """
name = "shipped-locustfile"
seed = 9
duration = "6s"
warmup = "1s"
cooldown = "1s"

[target]
locustfile = "users.py"

[load]
users = 4
spawn_rate = 4
wait_ms = [20, 60]
expect_workers = 1
master_bind = "127.0.0.1:{port}"
expect_workers_timeout = "90s"

[observe]
tick = "1s"

[slo.run]
lost_writes = "== 0"
unexpected_writes = "== 0"
duplicated_writes = "== 0"
"""

USERS = '''"""A user's own load against the reference API, through the careful client."""

from locust import task

from harness.load.client import ChaosUser


class Chatter(ChaosUser):
    def on_start(self) -> None:
        super().on_start()
        resp = self.send("POST", "/api/sessions", name="shipped_join", ok_json="session_id",
                         json={"user": f"user-{self.user_id}", "room": "room-1"})
        self.session = resp.json()["session_id"] if resp is not None else ""

    @task(3)
    def post(self) -> None:
        key = self.new_key()
        self.write("POST", "/api/rooms/room-1/messages", key=key, name="shipped_post",
                   headers={"Idempotency-Key": key},
                   json={"session_id": self.session, "text": f"message {key}"})

    @task(1)
    def read(self) -> None:
        self.send("GET", "/api/rooms/room-1/messages?limit=20", name="shipped_read")
'''


def _env() -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    env.pop("CHAOSHARNESS_LOAD_CONFIG", None)
    return env


def _wait_for_master(reports: Path, run: subprocess.Popen[str], log: Path) -> Path:
    """The run's requests/workers.jsonl once the master wrote its start line."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        for path in reports.glob("*/requests/workers.jsonl") if reports.is_dir() else []:
            if '"master"' in path.read_text():
                return path
        assert run.poll() is None, log.read_text()[-4000:]
        time.sleep(0.1)
    raise AssertionError("the master never started: " + log.read_text()[-4000:])


def test_the_master_ships_a_users_locustfile_to_a_remote_worker(tmp_path: Path) -> None:
    """The worker gets the locustfile (and its SHA-256) with the config over the master's
    port; the file is gone from the scenario's folder when the worker starts; every row the
    worker recorded, under the locustfile's own request names, is in the master's log."""
    svc = tmp_path / "svc"
    svc.mkdir()
    port = free_port("127.0.0.1")
    (svc / "scenario.toml").write_text(SCENARIO.format(port=port))
    (svc / "users.py").write_text(USERS)
    sha = hashlib.sha256(USERS.encode()).hexdigest()
    worker_host = tmp_path / "worker-host"  # the worker's own working directory
    worker_host.mkdir()
    reports = tmp_path / "reports"
    run_log, worker_log = tmp_path / "conductor.log", tmp_path / "worker.log"
    with run_log.open("w") as out:
        run = subprocess.Popen(
            [sys.executable, "-m", "harness.cli", "run", str(svc / "scenario.toml"),
             "--reports", str(reports), "--quiet"],
            env=_env(), cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT, text=True)
    procs = [run]
    try:
        workers_jsonl = _wait_for_master(reports, run, run_log)
        master = next(json.loads(line) for line in workers_jsonl.read_text().splitlines()
                      if '"master"' in line)
        assert master["locustfile"] == "users.py" and master["locustfile_sha256"] == sha
        (svc / "users.py").rename(tmp_path / "users.py.moved")  # no copy left to read
        with worker_log.open("w") as out:
            worker = subprocess.Popen(
                [sys.executable, "-m", "harness.cli", "load-worker", "--master",
                 f"127.0.0.1:{port}", "--timeout", "60"],
                env=_env(), cwd=worker_host, stdout=out, stderr=subprocess.STDOUT, text=True)
        procs.append(worker)
        run.wait(240)
        worker.wait(60)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
    assert run.returncode == 0, run_log.read_text()[-4000:]
    said = worker_log.read_text()
    joined = json.loads(next(line for line in said.splitlines()
                             if line.startswith('{"chaosharness": "load-worker"')))
    assert joined["locustfile_sha256"] == sha
    shipped_to = Path(joined["locustfile"])
    assert shipped_to.name == "users.py" and shipped_to.parent != svc
    counted = re.search(r"chaosharness worker (\d+): (\d+) rows recorded, (\d+) shipped", said)
    assert counted, said[-3000:]
    run_dir = workers_jsonl.parent.parent
    with open_requests(run_dir / REQUESTS_GZ) as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == int(counted[2]) == int(counted[3]) > 20
    assert {r["name"] for r in rows} <= {"shipped_join", "shipped_post", "shipped_read"}
    assert {"shipped_join", "shipped_post"} <= {r["name"] for r in rows}
    result = json.loads((run_dir / "result.json").read_text())
    assert result["writes"]["verdict"] == "pass" and result["writes"]["attempted"] > 10
    assert result["load"]["degraded"] is False


def test_a_locustfile_that_imports_from_beside_it_is_refused_up_front(tmp_path: Path) -> None:
    """With remote workers, a locustfile importing a module next to it cannot run on their
    hosts: the run fails with exit 2 before anything starts, naming the import and why."""
    svc = tmp_path / "svc"
    svc.mkdir()
    (svc / "scenario.toml").write_text(SCENARIO.format(port=free_port("127.0.0.1")))
    (svc / "helpers.py").write_text("ROOM = 'room-1'\n")
    (svc / "users.py").write_text("import helpers\n" + USERS)
    done = subprocess.run(
        [sys.executable, "-m", "harness.cli", "run", str(svc / "scenario.toml"), "--reports",
         str(tmp_path / "reports"), "--quiet"], env=_env(), cwd=tmp_path, capture_output=True,
        text=True, timeout=120)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "target.locustfile: users.py imports helpers (line 1) from beside it" in done.stderr
    assert "sent only the locustfile itself" in done.stderr
    run_json = json.loads(next((tmp_path / "reports").glob("*/run.json")).read_text())
    assert run_json["status"] == "failed" and "imports helpers" in run_json["error"]
    assert "postgres" not in run_json  # refused before anything was provisioned
