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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.errors import ProvisionError
from harness.faults.network import ProxyApiError, ProxyClient
from harness.provision.app import tcp_open
from harness.provision.ports import free_port
from harness.provision.process import ChildProcess, Supervisor
from harness.provision.ready import wait_until
from harness.scenario.schema import DependencySpec

__all__ = ["RunningDependency", "create_fresh_proxy", "start_dependencies"]

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
        return tcp_open(f"http://{upstream}")

    wait_until(up, _READY_TIMEOUT_S, what=f"dependency {spec.name!r} on {upstream}",
               on_timeout=child.log_tail)
    return upstream, child


def start_dependencies(specs: tuple[DependencySpec, ...], sup: Supervisor,
                       proxy: ProxyClient, *, replace: bool = False,
                       created: list[str] | None = None,
                       watch: Callable[[str], None] | None = None) -> list[RunningDependency]:
    """Start (where asked) every dependency and create its proxy; returns them in order.

    ``replace`` first deletes a proxy of the same name (a proxy server that outlives runs
    still holds one an earlier, killed run left, toxics and all); each proxy created is
    appended to ``created`` as soon as it exists, so the caller can remove it at the end;
    ``watch`` is told each name before its proxy is created (the watchdog's undo list)."""
    running: list[RunningDependency] = []
    for spec in specs:
        child: ChildProcess | None = None
        upstream = spec.upstream
        if spec.command:
            upstream, child = _start(spec, sup)
        made = create_fresh_proxy(proxy, spec.name, listen=spec.listen, upstream=upstream,
                                  replace=replace, created=created, watch=watch)
        running.append(RunningDependency(spec.name, upstream, str(made["listen"]), child))
    return running


def create_fresh_proxy(proxy: ProxyClient, name: str, *, listen: str, upstream: str,
                       replace: bool, created: list[str] | None = None,
                       watch: Callable[[str], None] | None = None) -> dict[str, object]:
    """Create the proxy ``name`` (after deleting one left by an earlier run, with ``replace``)
    and note its name in ``created``. ``watch`` hears the name first: a conductor killed
    between the create and its note still has the proxy deleted by its watchdog."""
    if watch is not None:
        watch(name)
    if replace:
        try:
            proxy.delete_proxy(name)
        except ProxyApiError as exc:
            if exc.status != 404:
                raise
    made = proxy.create_proxy(name, listen=listen, upstream=upstream)
    if created is not None:
        created.append(name)
    return made
