"""Secrets never ride on a child's command line, and a child that prints them leaves `***` in
its log.

One real run (~8 s of load) through the CLI, watched from outside: every process the harness
starts (Postgres, the proxy, the migration, the service, a dependency, Locust and its
worker, the watchdog) has its ``/proc/PID/cmdline`` read every 50 ms while it runs. The
service is the reference app started as a user's own command, behind a wrapper that prints
its DSN (which holds the embedded Postgres' generated password) before it starts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

import psutil
import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]

WRAPPER = """#!/bin/sh
echo "connecting to $DATABASE_URL"
echo "bare: ${DATABASE_URL#*://*:}"
exec "$PYTHON" -m reference_impl serve --host 127.0.0.1 --port "$PORT"
"""

SCENARIO = """
name = "argv-secrets"
description = "a run whose children are watched for secrets on their command lines"
seed = 9
duration = "8s"
warmup = "2s"
cooldown = "1s"

[target]
kind = "command"
command = "/bin/sh {wrapper}"
ready_path = "/health/ready"
dsn_env = "DATABASE_URL"
migrate_to = "003"
env = {{ PYTHON = "{python}" }}

[[dependency]]
name = "cache"
command = "{python} -m http.server {{port}} --bind 127.0.0.1"

[load]
users = 3
spawn_rate = 3
workers = 1
wait_ms = [50, 100]
mix = {{ post_message = 3, read_history = 1 }}

[slo.run]
lost_writes = "== 0"
"""


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(
            "utf-8", "replace")
    except OSError:
        return ""


def _app_dsn(pid: int) -> str | None:
    try:
        return psutil.Process(pid).environ().get("DATABASE_URL")
    except psutil.Error:
        return None


def _superuser_password(cmdline: str) -> str:
    """The embedded superuser's password, from the file next to the data dir (``-D``)."""
    parts = cmdline.split()
    try:
        return (Path(parts[parts.index("-D") + 1]).parent / "password").read_text().strip()
    except (ValueError, IndexError, OSError):
        return ""


def _watch(harness: subprocess.Popen[bytes],
           deadline_s: float) -> tuple[set[str], str, str]:
    """Every command line a descendant had while the run lasted (a pid's before and after an
    exec), the DSN the service got and the embedded superuser's password."""
    seen: set[str] = set()
    dsn = superuser = ""
    deadline = time.monotonic() + deadline_s
    while harness.poll() is None and time.monotonic() < deadline:
        try:
            kids = psutil.Process(harness.pid).children(recursive=True)
        except psutil.Error:
            kids = []
        for kid in kids:
            line = _cmdline(kid.pid)
            if line:
                seen.add(line)
            if not dsn and "reference_impl serve" in line:
                dsn = _app_dsn(kid.pid) or ""
            if not superuser and "postgres -D" in line:
                superuser = _superuser_password(line)
        time.sleep(0.05)
    return seen, dsn, superuser


def test_no_secret_on_a_command_line_and_child_logs_masked(tmp_path: Path) -> None:
    """Provoke: a run with every kind of child, whose service prints its DSN. Must hold: the
    service got a DSN with a generated password (by environment); no command line of any
    child, sampled live or recorded in processes.jsonl, holds it, the embedded superuser's
    password or any postgresql:// URL; the service's log shows the DSN, and the password out
    of any URL, as `***`; no file of the run directory holds either password."""
    wrapper = tmp_path / "wrapper.sh"
    wrapper.write_text(WRAPPER)
    path = tmp_path / "argv.toml"
    path.write_text(SCENARIO.format(wrapper=wrapper, python=sys.executable))
    reports = tmp_path / "reports"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("CHAOSHARNESS_PG_PASSWORD", None)
    harness = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "run", str(path), "--reports", str(reports),
         "--quiet"], env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        start_new_session=True)
    try:
        seen, dsn, superuser = _watch(harness, 150.0)
        out = harness.communicate(timeout=60)[0].decode("utf-8", "replace")
    finally:
        if harness.poll() is None:
            harness.kill()
            harness.wait()
    assert harness.returncode == 0, out
    password = unquote(urlsplit(dsn).password or "")
    assert len(password) >= 24, f"the service got no generated password in {dsn!r}"
    assert len(superuser) >= 24, "the embedded superuser has a generated password"
    kinds = {"postgres -D": "postgres", "harness.toxiproxy": "proxy", "reference_impl serve":
             "service", "http.server": "dependency", "locust": "locust",
             "harness.provision.watchdog": "watchdog"}
    found = {kind for line in seen for marker, kind in kinds.items() if marker in line}
    assert found == set(kinds.values()), (found, sorted(seen))
    secrets = (password, superuser)
    leaks = [line for line in seen
             if "postgresql://" in line or any(s in line for s in secrets)]
    assert leaks == []
    assert not any(s in out for s in secrets)

    run_dir = next(reports.iterdir())
    lines = (run_dir / "logs" / "processes.jsonl").read_text().splitlines()
    records = [json.loads(x) for x in lines]
    argvs = {r["name"]: " ".join(r["argv"]) for r in records if r["event"] == "start"}
    assert "migrate" in argvs and "locust" in argvs and "dep-cache" in argvs, argvs
    assert [a for a in argvs.values() if "***" in a or "postgresql://" in a] == []

    app_log = (run_dir / "logs" / "app-1.log").read_text()
    assert "connecting to postgresql://chaos_app:***@127.0.0.1:" in app_log, app_log[:2000]
    assert "bare: ***@127.0.0.1:" in app_log, app_log[:2000]  # the password alone, too
    hits = [p.relative_to(run_dir).as_posix() for p in run_dir.rglob("*")
            for s in secrets if p.is_file() and s.encode() in p.read_bytes()]
    assert hits == []
