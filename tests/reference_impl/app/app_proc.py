"""Start the reference app as a real subprocess (through the Supervisor) and talk to it.

Not a test module: helpers shared by the app's integration tests. The app is
started on port 0 and its URL is read from the ``listening on http://...``
line it prints once bound; every wait is bounded and fails with the app's log
tail as evidence.
"""

from __future__ import annotations

import itertools
import os
import re
import signal
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from harness.provision.pg_probe import execute
from harness.provision.postgres import EmbeddedPostgres
from harness.provision.process import ChildProcess, Supervisor
from harness.provision.ready import wait_until

ADMIN_TOKEN = "test-admin-token-7f3a"
REPO_ROOT = Path(__file__).resolve().parents[3]
_LISTENING = re.compile(r"listening on (http://\S+)")
_names = itertools.count(1)


@dataclass
class RunningApp:
    """A started app process and its base URL."""

    child: ChildProcess
    url: str
    supervisor: Supervisor

    def client(self, timeout_s: float = 5.0) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=timeout_s)

    def get(self, path: str, timeout_s: float = 5.0, **kw: Any) -> httpx.Response:
        with self.client(timeout_s) as client:
            return client.get(path, **kw)

    def post(self, path: str, timeout_s: float = 5.0, **kw: Any) -> httpx.Response:
        with self.client(timeout_s) as client:
            return client.post(path, **kw)

    def admin_post(self, path: str, **kw: Any) -> httpx.Response:
        return self.post(path, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, **kw)

    def status(self, path: str) -> int:
        """The status of GET ``path``, 0 when there was no answer."""
        try:
            return self.get(path, timeout_s=2.0).status_code
        except httpx.HTTPError:
            return 0

    def wait_ready(self, timeout_s: float = 30.0) -> float:
        return wait_until(lambda: self.status("/health/ready") == 200, timeout_s,
                          what=f"{self.child.name} readiness", on_timeout=self.child.log_tail)

    def wait_for(self, predicate: Callable[[], bool], timeout_s: float, what: str) -> float:
        return wait_until(predicate, timeout_s, what=what, on_timeout=self.child.log_tail)

    def stats(self) -> dict[str, Any]:
        body: dict[str, Any] = self.get("/api/monitoring/stats").json()
        return body

    def log(self) -> str:
        return self.child.log_path.read_text(errors="replace")

    def terminate(self, sig: int = signal.SIGTERM, timeout_s: float = 30.0) -> int | None:
        """Send ``sig`` to the app process alone and wait for its exit code."""
        self.child.signal_process(sig)
        code = self.child.wait(timeout_s)
        self.supervisor.reap(self.child)
        return code


def app_env(dsn: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REFERENCE_IMPL_")}
    env.update({"PYTHONPATH": str(REPO_ROOT), "DATABASE_URL": dsn,
                "REFERENCE_IMPL_ADMIN_TOKEN": ADMIN_TOKEN, "PYTHONUNBUFFERED": "1"})
    env.update(extra or {})
    return env


def spawn_app(
    supervisor: Supervisor, dsn: str, *, name: str = "app", profile: str = "resilient",
    args: Sequence[str] = (), env: dict[str, str] | None = None,
) -> tuple[ChildProcess, Callable[[], str | None]]:
    """Spawn ``python -m reference_impl serve --port 0``; return the child and a function
    that gives its URL once it printed ``listening on ...`` (None before)."""
    argv = [sys.executable, "-m", "reference_impl", "serve", "--port", "0",
            "--profile", profile, "--chaos-hooks", *args]
    log_path = supervisor.log_dir / f"{name}.log"
    offset = log_path.stat().st_size if log_path.exists() else 0
    child = supervisor.spawn(name, argv, env=app_env(dsn, env), cwd=REPO_ROOT,
                             stop_timeout=15.0)

    def url() -> str | None:
        with child.log_path.open("rb") as fh:
            fh.seek(offset)
            match = _LISTENING.search(fh.read().decode("utf-8", "replace"))
        return match.group(1) if match else None

    return child, url


def start_app(
    supervisor: Supervisor, dsn: str, *, name: str = "app", profile: str = "resilient",
    args: Sequence[str] = (), env: dict[str, str] | None = None,
    listen_timeout_s: float = 30.0,
) -> RunningApp:
    """Spawn the app (``spawn_app``) and wait until it listens."""
    child, url = spawn_app(supervisor, dsn, name=name, profile=profile, args=args, env=env)

    wait_until(lambda: child.poll() is not None or url() is not None, listen_timeout_s,
               what=f"{name} listening", on_timeout=child.log_tail)
    found = url()
    if found is None:
        raise_exited(child)
    assert found is not None
    return RunningApp(child, found, supervisor)


def raise_exited(child: ChildProcess) -> None:
    raise AssertionError(f"{child.name} exited with {child.poll()}:\n{child.log_tail(60)}")


def wait_exit(child: ChildProcess, timeout_s: float) -> int | None:
    """The exit code within ``timeout_s`` (None if still running)."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        code = child.poll()
        if code is not None:
            return code
        time.sleep(0.05)
    return None


def create_database(pg: EmbeddedPostgres, prefix: str = "app") -> str:
    """A new empty database on ``pg``; returns its DSN."""
    name = f"{prefix}{next(_names)}_{id(pg) % 10000}"
    execute(pg.dsn, f'create database "{name}"')
    return pg.dsn_for(name)


def drop_database(pg: EmbeddedPostgres, dsn: str) -> None:
    name = dsn.rsplit("/", 1)[1]
    execute(pg.dsn, f'drop database if exists "{name}" with (force)')
