"""The observer against the real reference app (both profiles) on the session's Postgres: the
stats extraction fits its /api/monitoring/stats, and the stderr scan counts what each profile
does with an unhandled error (the resilient one's JSON lines, the naive one's raw tracebacks)."""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from harness.observe import Observer, ObserveTargets
from harness.provision.postgres import EmbeddedPostgres
from harness.provision.process import ChildProcess, Supervisor
from harness.provision.ready import wait_until

TOKEN = "observe-test-admin-token-0123456789"
REPO = Path(__file__).resolve().parents[2]


def _start_app(sup: Supervisor, dsn: str, profile: str) -> tuple[ChildProcess, str]:
    argv = [sys.executable, "-m", "reference_impl", "serve", "--port", "0", "--dsn", dsn,
            "--profile", profile, "--chaos-hooks"]
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "REFERENCE_IMPL_ADMIN_TOKEN": TOKEN}
    child = sup.spawn(f"app-{profile}", argv, env=env, cwd=REPO)
    wait_until(lambda: "listening on" in child.log_path.read_text(), 30.0,
               what=f"reference app ({profile})", on_timeout=child.log_tail)
    match = re.search(r"listening on (http://\S+)", child.log_path.read_text())
    assert match, child.log_tail()
    url = match.group(1)
    wait_until(lambda: httpx.get(url + "/health/ready", trust_env=False).status_code == 200,
               30.0, what="reference app readiness", on_timeout=child.log_tail)
    return child, url


@contextmanager
def _observed(run_dir: Path, child: ChildProcess, url: str,
              postgres: EmbeddedPostgres) -> Iterator[Observer]:
    targets = ObserveTargets(url, lambda: child.pid, lambda: postgres.pid, postgres.dsn, TOKEN,
                             lambda: child.log_path, chaos_hooks=True)
    obs = Observer(run_dir, targets, t0_monotonic=time.monotonic(), tick_s=0.25)
    obs.start()
    try:
        yield obs
    finally:
        assert obs.stop(timeout_s=15.0)
    assert obs.error is None


def _raise_everywhere(url: str) -> None:
    """Raise in a handler, a task and a thread (one connection each: after an unhandled
    error uvicorn closes the connection, and a reused one would be reset)."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    for where, status in (("handler", 500), ("task", 200), ("thread", 200)):
        response = httpx.post(f"{url}/api/chaos/raise/{where}", headers=headers, timeout=10.0,
                              trust_env=False)
        assert response.status_code == status, (where, response.text)


def _settled(obs: Observer, key: str, want: int) -> dict[str, Any]:
    wait_until(lambda: (obs.last_sample or {}).get(key) == want, 5.0,
               what=f"{key} == {want}", on_timeout=lambda: json.dumps(obs.last_sample)[:2000])
    sample = obs.last_sample
    assert sample is not None
    return sample


def test_resilient_profile_figures_and_structured_errors(
    supervisor: Supervisor, postgres: EmbeddedPostgres, fresh_db: str, tmp_path: Path
) -> None:
    """Every figure of a sample is filled from the real app; three raises (handler, task,
    thread) are counted three times by the app and three times in its stderr, and the
    memory hook answers with the documented diff shape."""
    child, url = _start_app(supervisor, fresh_db, "resilient")
    with _observed(tmp_path / "run", child, url, postgres) as obs:
        wait_until(lambda: obs.last_sample is not None, 5.0, what="a first sample")
        before = obs.last_sample
        assert before is not None and before["stderr_unhandled"] == 0
        baseline = obs.baseline_memory(timeout_s=15.0)
        _raise_everywhere(url)
        sample = _settled(obs, "stderr_unhandled", 3)
    assert baseline is not None and isinstance(baseline["top"], list)
    assert sample["app_errors_unhandled"] == 3
    assert sample["live"] is True and sample["ready"] is True and sample["breaker"] == "closed"
    assert sample["pool"]["max"] == 10 and sample["pool"]["size"] >= 1
    assert sample["tasks"]["max_queue"] == 1000 and sample["memory_warnings"] == 0
    assert sample["tracemalloc_bytes"] > 0  # tracing started with the baseline snapshot
    assert sample["pg_connections"]["app"] >= 1 and sample["app_proc"]["pid"] == child.pid


def test_naive_profile_raw_tracebacks_are_counted(
    supervisor: Supervisor, postgres: EmbeddedPostgres, fresh_db: str, tmp_path: Path
) -> None:
    """The naive profile has no boundary: the app counts nothing, but uvicorn's 'Exception in
    ASGI application', asyncio's 'Task exception was never retrieved' and the thread's
    traceback each add one to stderr_unhandled."""
    child, url = _start_app(supervisor, fresh_db, "naive")
    with _observed(tmp_path / "run", child, url, postgres) as obs:
        wait_until(lambda: obs.last_sample is not None, 5.0, what="a first sample")
        before = obs.last_sample
        assert before is not None and before["stderr_unhandled"] is not None
        _raise_everywhere(url)
        sample = _settled(obs, "stderr_unhandled", before["stderr_unhandled"] + 3)
    text = child.log_path.read_text()
    for form in ("Exception in ASGI application", "Task exception was never retrieved",
                 "Exception in thread"):
        assert form in text
    assert sample["app_errors_unhandled"] in (0, None)
