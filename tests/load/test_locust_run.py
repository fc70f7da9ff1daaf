"""A real Locust run (subprocess, through the supervisor) against a real HTTP server.

The server (fake_api.py) speaks the reference API's shape and misbehaves on purpose
for some keys (a 503, or a commit whose answer comes after the client gave up), so the
run must show retries with the same key, acks and error classes in requests.csv.
"""

from __future__ import annotations

import csv
import json
import os
import re
import sys
import time
import zlib
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from harness.load.command import locust_argv, merge_request_files
from harness.load.config import LoadRunConfig
from harness.provision.process import Supervisor
from harness.provision.ready import wait_until

ROOT = Path(__file__).resolve().parents[2]
FAKE_API = Path(__file__).with_name("fake_api.py")
COLUMNS = ["t_s", "name", "status", "ok", "latency_ms", "error", "write_key", "ack", "attempt"]
pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _start_api(sup: Supervisor, log: Path) -> str:
    child = sup.spawn("fake-api", [sys.executable, str(FAKE_API), str(log)])
    port: list[str] = []

    def ready() -> bool:
        port[:] = re.findall(r"PORT (\d+)", child.log_path.read_text() if
                             child.log_path.exists() else "")
        return bool(port)

    wait_until(ready, 15.0, what="fake API to print its port")
    return f"http://127.0.0.1:{port[0]}"


def _run_locust(tmp: Path, sup: Supervisor, host: str, workers: int, seconds: float,
                live_flush: bool = False, **shape: object) -> Path:
    requests_dir = tmp / "requests"
    requests_dir.mkdir()
    fields: dict[str, object] = {
        "mix": {"post_message": 6, "read_history": 2, "join_room": 1, "submit_plan": 1,
                "lookup_node": 1, "export": 1},
        "requests_dir": str(requests_dir), "t0_monotonic": time.monotonic(),
        "run_time_s": seconds, "seed": 7, "users": 6, "spawn_rate": 20, "wait_ms": (5, 30),
        "request_timeout_s": 1.0, "write_retries": 3, "rooms": 3,
    }
    fields |= shape
    config = LoadRunConfig(**fields).write(tmp / "load.json")  # type: ignore[arg-type]
    users = int(str(fields["users"]))
    argv = locust_argv(config, host, workers=workers, users=users, spawn_rate=20,
                       run_time_s=seconds, stop_timeout_s=8)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("CHAOSHARNESS_LOAD_CONFIG", None)
    locust = sup.spawn(f"locust-{workers}", argv, env=env, cwd=tmp)
    if live_flush:  # rows reach the disk while the run goes on, not only at exit
        def flushed() -> bool:
            files = list(requests_dir.glob("requests-*.csv"))
            return bool(files) and len(files[0].read_text().splitlines()) > 5 or not locust.alive

        wait_until(flushed, seconds + 30, what="first flush of the recorder")
        assert locust.alive, "the recorder wrote nothing before Locust ended"
    code = locust.wait(timeout=seconds + 45)
    assert code == 0, f"locust exited {code}:\n{locust.log_tail(40)}"
    out = tmp / "requests.csv"
    rows = merge_request_files(requests_dir, out)
    assert rows > 0, locust.log_tail(40)
    return out


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        assert reader.fieldnames == COLUMNS
        return list(reader)


def test_recorded_rows_keys_retries_and_acks(tmp_path: Path) -> None:
    """Every request the server saw is a row (rows reach the disk during the run); writes
    carry seeded keys; a 503, a dropped connection or a lost answer is retried with the
    same key (attempt 2) and acked then; errors are classed; t_s is on the run clock."""
    with Supervisor(tmp_path / "logs") as sup:
        server_log = tmp_path / "server.log"
        host = _start_api(sup, server_log)
        started = time.monotonic()
        out = _run_locust(tmp_path, sup, host, workers=0, seconds=4.0, live_flush=True)
        elapsed = time.monotonic() - started
    rows = _read(out)
    seen = Counter(line.split("\t")[0] for line in server_log.read_text().splitlines())
    assert Counter(r["name"] for r in rows) == seen  # nothing lost, nothing invented
    assert [float(r["t_s"]) for r in rows] == sorted(float(r["t_s"]) for r in rows)
    assert all(-0.5 < float(r["t_s"]) < elapsed and float(r["latency_ms"]) >= 0 for r in rows)

    writes = [r for r in rows if r["name"] == "post_message"]
    reads = [r for r in rows if r["name"] != "post_message"]
    assert len(writes) > 20
    assert all(r["write_key"] == "" and r["ack"] == "" for r in reads)
    assert all(r["ok"] == "1" and r["error"] == "" for r in reads), reads[:3]
    by_key: dict[str, list[dict[str, str]]] = defaultdict(list)
    for r in writes:
        assert re.fullmatch(r"k7-0-\d+-\d{6}", r["write_key"]), r
        by_key[r["write_key"]].append(r)
    checked = Counter[str]()
    for key, attempts in by_key.items():
        attempts.sort(key=lambda r: int(r["attempt"]))
        assert [int(r["attempt"]) for r in attempts] == list(range(1, len(attempts) + 1))
        crc = zlib.crc32(key.encode())
        first, last = attempts[0], attempts[-1]
        if crc % 4 == 0:
            assert (first["status"], first["ack"], first["error"]) == ("503", "0", "http_503")
            assert (last["status"], last["ack"], last["ok"]) == ("201", "1", "1")
            checked["503"] += 1
        elif crc % 10 == 1:
            assert (first["status"], first["ack"], first["error"]) == ("0", "0", "timeout")
            assert (last["status"], last["ack"], last["attempt"]) == ("200", "1", "2")
            checked["lost-ack"] += 1
        elif crc % 10 == 2:
            assert (first["status"], first["ack"], first["error"]) == ("0", "0", "connection")
            assert (last["status"], last["ack"], last["attempt"]) == ("201", "1", "2")
            checked["dropped"] += 1
        else:
            assert len(attempts) == 1 and (first["status"], first["ack"]) == ("201", "1")
    assert checked["503"] > 0 and checked["lost-ack"] > 0 and checked["dropped"] > 0, checked


def test_worker_processes_write_separate_files_merged_in_order(tmp_path: Path) -> None:
    """With --processes 2, each worker ships its rows to the master, which writes one file
    per worker; every row a worker sent arrived, keys never collide across workers, and the
    merge is one time-ordered requests.csv."""
    with Supervisor(tmp_path / "logs") as sup:
        host = _start_api(sup, tmp_path / "server.log")
        out = _run_locust(tmp_path, sup, host, workers=2, seconds=3.0)
    files = sorted(p.name for p in (tmp_path / "requests").glob("requests-*.csv"))
    assert files == ["requests-w0.csv", "requests-w1.csv"]
    log = [json.loads(line) for line in
           (tmp_path / "requests" / "workers.jsonl").read_text().splitlines()]
    done = {e["index"]: e for e in log if e["event"] == "done"}
    assert sorted(done) == [0, 1] and not [e for e in log if e["event"] == "lost"], log
    rows = _read(out)
    assert sum(e["received"] for e in done.values()) == len(rows)
    assert all(e["sent"] == e["received"] == e["recorded"] for e in done.values()), done
    assert [float(r["t_s"]) for r in rows] == sorted(float(r["t_s"]) for r in rows)
    workers = {r["write_key"].split("-")[1] for r in rows if r["write_key"]}
    assert workers == {"0", "1"}
    firsts = [r["write_key"] for r in rows if r["write_key"] and r["attempt"] == "1"]
    assert len(firsts) == len(set(firsts))


def test_step_shape_raises_the_load(tmp_path: Path) -> None:
    """A step shape (1 user, +5 each second) is followed: the last second carries several
    times the requests of the first, and Locust stops by itself at the run time."""
    with Supervisor(tmp_path / "logs") as sup:
        host = _start_api(sup, tmp_path / "server.log")
        out = _run_locust(tmp_path, sup, host, workers=0, seconds=4.0, shape="step", users=1,
                          steps=3, step_users=5, step_every_s=1.0)
    t = [float(r["t_s"]) for r in _read(out)]
    start = min(t)
    first = sum(1 for x in t if x < start + 1.0)
    last = sum(1 for x in t if start + 2.5 <= x < start + 3.5)
    assert last > 3 * max(first, 1), (first, last)
