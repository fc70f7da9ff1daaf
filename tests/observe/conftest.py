"""Fixtures for the observer tests: real app-like subprocesses started through the Supervisor."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.provision.process import ChildProcess, Supervisor
from harness.provision.ready import wait_until

HERE = Path(__file__).resolve().parent


@dataclass
class Served:
    """A started test server: its process and base URL."""

    child: ChildProcess
    url: str


def serve(sup: Supervisor, tmp_path: Path, script: str, name: str, *extra: str) -> Served:
    """Start ``script`` (which writes its bound port into --port-file) and wait for the port."""
    port_file = tmp_path / f"{name}.port"
    child = sup.spawn(name, [sys.executable, str(HERE / script), "--port-file", str(port_file),
                             *extra])
    wait_until(port_file.exists, 15.0, what=f"{name} port file", on_timeout=child.log_tail)
    return Served(child, f"http://127.0.0.1:{port_file.read_text().strip()}")


@pytest.fixture
def serve_script(supervisor: Supervisor, tmp_path: Path) -> Callable[..., Served]:
    """A factory: ``serve_script("crashy_asgi.py", "crashy")`` starts that server script."""

    def start(script: str, name: str, *extra: str) -> Served:
        return serve(supervisor, tmp_path, script, name, *extra)

    return start


@pytest.fixture
def fake_app(supervisor: Supervisor, tmp_path: Path) -> Callable[..., Served]:
    """A factory: each call starts one more fake app (``token`` guards its memory hook)."""
    count = 0

    def start(token: str | None = "s3cret", snapshot_delay_s: float = 0.0,
              minimal: bool = False) -> Served:
        nonlocal count
        count += 1
        extra = ("--token", token) if token else ()
        extra += ("--snapshot-delay", str(snapshot_delay_s))
        extra += ("--minimal",) if minimal else ()
        return serve(supervisor, tmp_path, "fake_app.py", f"fake-app-{count}", *extra)

    return start
