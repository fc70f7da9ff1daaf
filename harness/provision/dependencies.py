"""The service's other upstreams: start the ones the scenario runs, put each behind a proxy.

A dependency with a ``command`` is started by the supervisor on a free loopback port
(``{port}`` in its command line and ``PORT`` in its environment) and waited for until the
port accepts connections; one with an ``upstream`` is already running. Either way the
fault proxy gets a proxy named after it, and the service is handed the proxy's address,
never the dependency's own, so every network fault on that link reaches it.
"""

from __future__ import annotations

import os
import signal
import socket
from dataclasses import dataclass
from pathlib import Path

from harness.errors import ProvisionError
from harness.faults.network import ProxyClient
from harness.provision.ports import free_port
from harness.provision.process import ChildProcess, Supervisor
from harness.provision.ready import wait_until
from harness.scenario.schema import DependencySpec

__all__ = ["RunningDependency", "start_dependencies"]

_READY_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class RunningDependency:
    """A dependency of this run: where it is, and where the service reaches it (the proxy)."""

    name: str
    upstream: str
    listen: str
    child: ChildProcess | None = None

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "upstream": self.upstream, "listen": self.listen,
                "pid": self.child.pid if self.child is not None else None}


def _accepts(hostport: str) -> bool:
    host, port = hostport.rsplit(":", 1)
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=0.5):
            return True
    except OSError:
        return False


def _start(spec: DependencySpec, sup: Supervisor) -> tuple[str, ChildProcess]:
    port = free_port()
    command = spec.command.replace("{port}", str(port))
    child = sup.spawn(f"dep-{spec.name}", ["/bin/sh", "-c", f"exec {command}"],
                      env={**os.environ, "PORT": str(port)},
                      cwd=Path(spec.workdir) if spec.workdir else None,
                      stop_signal=signal.SIGTERM, stop_timeout=5.0)
    upstream = f"127.0.0.1:{port}"

    def up() -> bool:
        if not child.alive:
            raise ProvisionError(f"dependency {spec.name!r} exited during start",
                                 exit_code=child.poll(), output_tail=child.log_tail())
        return _accepts(upstream)

    wait_until(up, _READY_TIMEOUT_S, what=f"dependency {spec.name!r} on {upstream}",
               on_timeout=child.log_tail)
    return upstream, child


def start_dependencies(specs: tuple[DependencySpec, ...], sup: Supervisor,
                       proxy: ProxyClient) -> list[RunningDependency]:
    """Start (where asked) every dependency and create its proxy; returns them in order."""
    running: list[RunningDependency] = []
    for spec in specs:
        child: ChildProcess | None = None
        upstream = spec.upstream
        if spec.command:
            upstream, child = _start(spec, sup)
        created = proxy.create_proxy(spec.name, listen=spec.listen, upstream=upstream)
        running.append(RunningDependency(spec.name, upstream, str(created["listen"]), child))
    return running
