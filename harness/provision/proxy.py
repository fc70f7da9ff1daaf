"""The fault proxy: the embedded Toxiproxy-compatible server as a supervised child,
or a real ``toxiproxy-server`` (from PATH or a path) or one already running by URL.

Whichever it is, the harness talks to it only through the Toxiproxy HTTP API.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass

from harness.errors import ProvisionError
from harness.faults.network import ProxyClient
from harness.provision.ports import free_port
from harness.provision.process import ChildProcess, Supervisor
from harness.provision.ready import wait_until

__all__ = ["RunningProxy", "start_proxy"]

_LISTENING = re.compile(r"listening on ([\w.\[\]:-]+):(\d+)")


@dataclass
class RunningProxy:
    kind: str
    url: str
    client: ProxyClient
    child: ChildProcess | None = None

    @property
    def pid(self) -> int | None:
        """The proxy process' pid while the harness runs it and it is alive; ``None`` for a
        proxy reached by URL (its sockets are out of reach) or one that has exited."""
        child = self.child
        return child.pid if child is not None and child.alive else None


def _alive_version(client: ProxyClient, child: ChildProcess | None) -> bool:
    if child is not None and not child.alive:
        raise ProvisionError("the fault proxy exited during start", exit_code=child.poll(),
                             output_tail=child.log_tail())
    client.version()
    return True


def start_proxy(supervisor: Supervisor, kind: str = "embedded", url: str = "",
                path: str = "") -> RunningProxy:
    """Start (or reach) the fault proxy and wait until its API answers ``/version``."""
    if url:
        client = ProxyClient(url)
        wait_until(lambda: _alive_version(client, None), 10.0, what=f"toxiproxy at {url}")
        return RunningProxy("url", url, client)
    if kind == "toxiproxy":
        binary = path or "toxiproxy-server"
        port = free_port()  # toxiproxy-server cannot report a kernel-chosen port
        child = supervisor.spawn("toxiproxy", [binary, "-host", "127.0.0.1", "-port", str(port)])
        base = f"http://127.0.0.1:{port}"
    else:
        child = supervisor.spawn(
            "proxy", [sys.executable, "-m", "harness.toxiproxy", "--host", "127.0.0.1", "--port", "0"],
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        found: list[str] = []

        def listening() -> bool:
            _alive_version_or_raise(child)
            match = _LISTENING.search(child.log_tail(50))
            if match:
                found.append(f"http://{match.group(1)}:{match.group(2)}")
            return bool(found)

        wait_until(listening, 10.0, what="the embedded proxy's listening line", on_timeout=child.log_tail)
        base = found[0]
    client = ProxyClient(base)
    wait_until(lambda: _alive_version(client, child), 10.0, what=f"fault proxy at {base}",
               on_timeout=child.log_tail)
    return RunningProxy(kind, base, client, child)


def _alive_version_or_raise(child: ChildProcess) -> None:
    if not child.alive:
        raise ProvisionError("the fault proxy exited during start", exit_code=child.poll(),
                             output_tail=child.log_tail())
