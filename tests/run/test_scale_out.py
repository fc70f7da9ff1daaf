"""Load beyond one machine, tested as separate hosts: two network namespaces.

Each namespace is joined to the root namespace by a veth pair whose host end sits on a
bridge holding 10.200.0.1/24; the namespaces are 10.200.0.2 and .3. The conductor runs in
the root namespace with the reference app listening on 10.200.0.1 and the load's master
bound there; two ``chaosharness load-worker`` processes run inside the namespaces
(``ip netns exec``) and get the load config from the master, not from the disk. Traffic
stays inside 10.200.0.0/24. Root only; skipped with the reason otherwise. The namespaces,
veths and the bridge are removed in a finally.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.provision.ports import free_port
from harness.requests_file import REQUESTS_GZ, open_requests

ROOT = Path(__file__).resolve().parents[2]
HOST_ADDR = "10.200.0.1"
pytestmark = [pytest.mark.integration, pytest.mark.slow]

SCENARIO = """
name = "scale-out"
description = "Two load workers on other hosts (network namespaces)"
seed = 5
duration = "{duration}"
warmup = "2s"
cooldown = "1s"

[target]
listen_host = "{host}"

[load]
users = 6
spawn_rate = 6
wait_ms = [20, 60]
mix = {{ post_message = 4, read_history = 2, join_room = 1 }}
expect_workers = 2
master_bind = "{host}:{port}"
expect_workers_timeout = "90s"

[observe]
tick = "1s"

[slo.run]
lost_writes = "== 0"
unexpected_writes = "== 0"
duplicated_writes = "== 0"
"""


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check, timeout=20)


def _why_no_netns() -> str | None:
    if os.geteuid() != 0:
        return "needs root to create network namespaces"
    if shutil.which("ip") is None:
        return "needs iproute2's `ip`"
    probe = f"chxprobe{os.getpid()}"
    made = _ip("netns", "add", probe, check=False)
    if made.returncode != 0:
        return f"`ip netns add` does not work here: {made.stderr.strip()}"
    _ip("netns", "del", probe, check=False)
    if "10.200.0." in _ip("-4", "addr").stdout:
        return "10.200.0.0/24 is already in use on this host"
    return None


@dataclass
class Hosts:
    namespaces: list[str]
    addresses: list[str]


@pytest.fixture
def two_hosts() -> Iterator[Hosts]:
    """Two namespaces on a bridge with the host at 10.200.0.1; everything removed at the end."""
    why = _why_no_netns()
    if why:
        pytest.skip(why)
    tag = str(os.getpid() % 100000)
    bridge = f"chxbr{tag}"
    hosts = Hosts([f"chxa{tag}", f"chxb{tag}"], ["10.200.0.2", "10.200.0.3"])
    made_links: list[str] = []
    made_ns: list[str] = []
    try:
        _ip("link", "add", bridge, "type", "bridge")
        made_links.append(bridge)
        _ip("addr", "add", f"{HOST_ADDR}/24", "dev", bridge)
        _ip("link", "set", bridge, "up")
        for ns, addr in zip(hosts.namespaces, hosts.addresses, strict=True):
            _ip("netns", "add", ns)
            made_ns.append(ns)
            outer, inner = f"{ns}h", f"{ns}n"
            _ip("link", "add", outer, "type", "veth", "peer", "name", inner)
            made_links.append(outer)
            _ip("link", "set", inner, "netns", ns)
            _ip("link", "set", outer, "master", bridge)
            _ip("link", "set", outer, "up")
            _ip("-n", ns, "addr", "add", f"{addr}/24", "dev", inner)
            _ip("-n", ns, "link", "set", inner, "up")
            _ip("-n", ns, "link", "set", "lo", "up")
        yield hosts
    finally:
        for ns in made_ns:
            _ip("netns", "del", ns, check=False)
        for link in reversed(made_links):
            _ip("link", "del", link, check=False)  # a veth may be gone with its namespace


def _env() -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    env.pop("CHAOSHARNESS_LOAD_CONFIG", None)
    return env


def _start_run(tmp: Path, duration: str) -> tuple[subprocess.Popen[str], Path, int]:
    port = free_port(HOST_ADDR)
    scenario = tmp / "scale-out.toml"
    scenario.write_text(SCENARIO.format(duration=duration, host=HOST_ADDR, port=port))
    reports = tmp / "reports"
    with (tmp / "conductor.log").open("w") as out:  # the child keeps its own descriptor
        proc = subprocess.Popen(
            [sys.executable, "-m", "harness.cli", "run", str(scenario), "--reports", str(reports),
             "--quiet"], env=_env(), cwd=tmp, stdout=out, stderr=subprocess.STDOUT, text=True)
    return proc, reports, port


def _start_worker(tmp: Path, ns: str, port: int) -> tuple[subprocess.Popen[str], Path]:
    log = tmp / f"worker-{ns}.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, sys.executable, "-m", "harness.cli", "load-worker",
             "--master", f"{HOST_ADDR}:{port}", "--timeout", "90"],
            env=_env(), cwd=tmp, stdout=out, stderr=subprocess.STDOUT, text=True)
    return proc, log


def _run_dir(reports: Path) -> Path:
    dirs = [d for d in reports.iterdir() if d.is_dir()] if reports.is_dir() else []
    assert len(dirs) == 1, dirs
    return dirs[0]


def _jsonl(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _worker_counts(log: Path) -> dict[str, int]:
    """What the worker said at its end: its index and the rows it recorded and shipped."""
    m = re.search(r"chaosharness worker (\d+): (\d+) rows recorded, (\d+) shipped", log.read_text())
    assert m, log.read_text()[-3000:]
    return {"index": int(m[1]), "recorded": int(m[2]), "shipped": int(m[3])}


def _wait_all(procs: list[subprocess.Popen[str]], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    for proc in procs:
        try:
            proc.wait(max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def _kill_all(procs: list[subprocess.Popen[str]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_two_remote_workers_every_row_reaches_the_master(two_hosts: Hosts, tmp_path: Path) -> None:
    """Both workers join from their own address; every row each counted is in the master's
    request log, keys carry distinct worker indexes, and the write accounting holds."""
    run, reports, port = _start_run(tmp_path, "10s")
    workers = [_start_worker(tmp_path, ns, port) for ns in two_hosts.namespaces]
    procs = [run, *(w for w, _ in workers)]
    try:
        _wait_all(procs, 240)
    finally:
        _kill_all(procs)
    conductor_log = (tmp_path / "conductor.log").read_text()
    assert run.returncode == 0, conductor_log[-4000:]
    run_dir = _run_dir(reports)
    events = _jsonl(run_dir / "timeline.jsonl")
    joined = [e for e in events if e["event"] == "worker_joined"]
    assert sorted(str(e["client_id"]).split("_")[0] for e in joined) != []
    assert sorted(int(e["index"]) for e in joined) == [0, 1]  # type: ignore[call-overload]
    assert not [e for e in events if e["event"] == "worker_lost"], events
    done = {int(e["index"]): e for e in events if e["event"] == "worker_done"}  # type: ignore[call-overload]
    counts = [_worker_counts(log) for _, log in workers]
    assert sorted(c["index"] for c in counts) == [0, 1]
    with open_requests(run_dir / REQUESTS_GZ) as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == sum(c["recorded"] for c in counts) > 50
    for c in counts:
        assert c["recorded"] == c["shipped"] == done[c["index"]]["sent"] \
            == done[c["index"]]["received"], (c, done)
    key_workers = {r["write_key"].split("-")[1] for r in rows if r["write_key"]}
    assert key_workers == {"0", "1"}
    result = json.loads((run_dir / "result.json").read_text())
    writes = result["writes"]
    assert writes["verdict"] == "pass" and writes["lost"] == 0 and writes["unexpected"] == 0
    assert writes["attempted"] > 20
    assert result["load"]["degraded"] is False and len(result["load"]["workers"]) == 2
    run_json = json.loads((run_dir / "run.json").read_text())
    assert run_json["load"]["master"] == f"{HOST_ADDR}:{port}"
    hosts = {w["status"] for w in run_json["load"]["workers"]}
    assert hosts == {"done"}


def test_a_killed_worker_is_recorded_lost_and_the_load_degraded(
        two_hosts: Hosts, tmp_path: Path) -> None:
    """SIGKILL one worker mid-run: the timeline has its worker_lost (when, index, rows that
    came from it), result.json says the load was degraded and why, the report says it, and
    its in-flight writes are not lost or unexpected writes."""
    run, reports, port = _start_run(tmp_path, "14s")
    workers = [_start_worker(tmp_path, ns, port) for ns in two_hosts.namespaces]
    procs = [run, *(w for w, _ in workers)]
    victim, _ = workers[1]
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            dirs = list(reports.glob("*/timeline.jsonl")) if reports.is_dir() else []
            if dirs and '"load_start"' in dirs[0].read_text():
                break
            assert run.poll() is None, (tmp_path / "conductor.log").read_text()[-4000:]
            time.sleep(0.2)
        time.sleep(4.0)
        killed_at = time.monotonic()
        victim.send_signal(signal.SIGKILL)
        _wait_all(procs, 240)
    finally:
        _kill_all(procs)
    assert time.monotonic() > killed_at
    conductor_log = (tmp_path / "conductor.log").read_text()
    assert run.returncode == 0, conductor_log[-4000:]
    run_dir = _run_dir(reports)
    events = _jsonl(run_dir / "timeline.jsonl")
    lost = [e for e in events if e["event"] == "worker_lost"]
    assert len(lost) == 1, events
    load_start = next(float(e["t_s"]) for e in events if e["event"] == "load_start")  # type: ignore[arg-type]
    lost_at = float(lost[0]["t_s"])  # type: ignore[arg-type]
    assert load_start + 4.0 < lost_at < load_start + 14.0, (load_start, lost[0])
    survivor = _worker_counts(workers[0][1])
    assert int(lost[0]["index"]) != survivor["index"]  # type: ignore[call-overload]
    assert int(lost[0]["received"]) > 0  # type: ignore[call-overload]
    with open_requests(run_dir / REQUESTS_GZ) as fh:
        rows = list(csv.DictReader(fh))
    from_victim = sum(1 for r in rows if r["write_key"].split("-")[1:2] == [str(lost[0]["index"])])
    assert from_victim > 0
    assert len(rows) == survivor["recorded"] + int(lost[0]["received"])  # type: ignore[call-overload]
    result = json.loads((run_dir / "result.json").read_text())
    assert result["load"]["degraded"] is True
    assert f"worker {lost[0]['index']}" in result["load"]["reason"]
    writes = result["writes"]
    assert writes["lost"] == 0 and writes["unexpected"] == 0 and writes["verdict"] == "pass", writes
    assert "unrecorded" in writes
    assert "Load degraded" in (run_dir / "report.md").read_text()


def test_too_few_workers_fail_the_run_with_exit_2(tmp_path: Path) -> None:
    """No worker comes within expect_workers_timeout: exit 2, and the error names how many
    came and the command to start one (loopback: no namespace needed)."""
    scenario = tmp_path / "few.toml"
    text = SCENARIO.format(duration="5s", host="127.0.0.1", port=0)
    scenario.write_text(text.replace('expect_workers_timeout = "90s"',
                                     'expect_workers_timeout = "3s"'))
    done = subprocess.run(
        [sys.executable, "-m", "harness.cli", "run", str(scenario), "--reports",
         str(tmp_path / "reports"), "--quiet"], env=_env(), cwd=tmp_path, capture_output=True,
        text=True, timeout=180)
    assert done.returncode == 2, done.stdout + done.stderr
    assert re.search(r"expected 2 load worker\(s\) at 127\.0\.0\.1:\d+, 0 joined \(within 3 s\)",
                     done.stderr), done.stderr
    assert "chaosharness load-worker --master 127.0.0.1:" in done.stderr
    run_json = json.loads(next((tmp_path / "reports").glob("*/run.json")).read_text())
    assert run_json["status"] == "failed" and "0 joined" in run_json["error"]
