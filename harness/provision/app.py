"""The service under test as a supervised child: start, wait for it, kill, terminate, restart.

Three kinds of target:

- the reference implementation: ``python -m reference_impl serve`` on a free
  loopback port (``--port 0``: the app prints ``listening on http://HOST:PORT``),
  with its DSN pointing at the fault proxy, in ``DATABASE_URL``;
- a user's own service started from its command line (``{port}`` and ``{dsn}``
  in it are filled in; the DSN is also handed over in the environment variable
  the scenario names), supervised so process faults reach it;
- a service already running, by URL: process faults refuse with a clear error.

A restart reuses the first start's port, so the load generator keeps its URL.

Secrets go to the child by environment, never on its command line, which every local
user can read (``ps``, ``/proc/PID/cmdline``): the DSN (it carries the database's password)
and the admin token. Only a command target that puts ``{dsn}`` in its own command line
exposes it, by its author's choice (the environment variable is there for that).
"""

from __future__ import annotations

import re
import signal
import socket
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import FaultError, ProvisionError
from harness.provision.ports import free_port
from harness.provision.process import ChildProcess, Supervisor
from harness.provision.ready import wait_until

__all__ = ["AppExit", "AppSpec", "AppTarget", "http_ok", "tcp_open"]

_LISTENING = re.compile(r"listening on (https?://[\w.\[\]:-]+)")


def http_ok(url: str, timeout: float = 0.5) -> bool:
    """True when GET ``url`` answers 2xx within ``timeout``."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - loopback only
            return 200 <= resp.status < 300
    except (urllib.error.URLError, OSError, ValueError):
        return False


def tcp_open(url: str, timeout: float = 0.5) -> bool:
    """True when the host:port of ``url`` accepts a TCP connection within ``timeout``."""
    parts = urllib.parse.urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


@dataclass(frozen=True)
class AppSpec:
    """How to start (or reach) the service under test."""

    kind: str  # "reference" | "command" | "url"
    dsn: str = ""  # the DSN the app uses: through the proxy, never straight at Postgres
    profile: str = "resilient"
    chaos_hooks: bool = True
    auto_migrate: bool = True
    admin_token: str = ""
    env: dict[str, str] = field(default_factory=dict)
    command: str = ""
    url: str = ""
    ready_path: str = "/health/ready"  # "" : none; ready when live
    live_path: str = "/health"  # "" : none; live when its port accepts connections
    dsn_env: str = "DATABASE_URL"
    workdir: str = ""  # where a command target runs ("": the conductor's directory)
    #: Proxied address (host:port) of each link by name ("postgres", each dependency):
    #: ``{name}`` in a command target's command line and environment values.
    addresses: dict[str, str] = field(default_factory=dict)
    #: Where a started service listens (loopback unless load workers on other hosts need it).
    listen_host: str = "127.0.0.1"
    ready_timeout_s: float = 30.0
    drain_timeout_s: float = 10.0


@dataclass
class AppExit:
    """One exit of the app process, for run.json (graceful shutdown checks)."""

    t_monotonic: float
    returncode: int | None
    signal: str
    cause: str


class AppTarget:
    """The running service under test; owns its child process when it started it."""

    def __init__(self, spec: AppSpec, supervisor: Supervisor, base_env: dict[str, str]) -> None:
        self.spec = spec
        self.supervisor = supervisor
        self.base_env = base_env
        self.child: ChildProcess | None = None
        self.port = 0
        self.url = spec.url.rstrip("/") if spec.kind == "url" else ""
        self.exits: list[AppExit] = []
        self.restarts = 0
        self.frozen = False
        self._starts = 0

    # -- facts --------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        return self.child.pid if self.child is not None and self.child.alive else None

    @property
    def log_path(self) -> Path | None:
        return self.child.log_path if self.child is not None else None

    def live(self) -> bool:
        """The liveness probe answers 2xx; a target without one: its port accepts a connection."""
        if self.spec.live_path:
            return http_ok(self.url + self.spec.live_path)
        return tcp_open(self.url)

    def ready(self) -> bool:
        """The readiness probe answers 2xx; a target without one: it is live."""
        if self.spec.ready_path:
            return http_ok(self.url + self.spec.ready_path)
        return self.live()

    # -- lifecycle ------------------------------------------------------------------

    def start(self, *, wait_ready: bool = True) -> float:
        """Start (or, for a URL target, find) the service; returns seconds until it answered."""
        started = time.monotonic()
        if self.spec.kind == "url":
            probe = self.ready if wait_ready else self.live
            wait_until(probe, self.spec.ready_timeout_s,
                       what=f"service at {self.url} ({'ready' if wait_ready else 'live'})")
            return time.monotonic() - started
        argv, env = self._command()
        self._starts += 1
        self.child = self.supervisor.spawn(
            f"app-{self._starts}", argv, env=env, cwd=Path(self.spec.workdir) if self.spec.workdir else None,
            stop_signal=signal.SIGTERM, stop_timeout=self.spec.drain_timeout_s + 5.0,
        )
        self.frozen = False
        if not self.port:
            self._learn_port()
        self.url = self.url or f"http://{self.spec.listen_host}:{self.port}"
        probe = self.ready if wait_ready else self.live
        child = self.child
        wait_until(lambda: self._alive_or_raise(child) and probe(), self.spec.ready_timeout_s,
                   what=f"app ({'ready' if wait_ready else 'live'}) at {self.url}",
                   on_timeout=child.log_tail)
        return time.monotonic() - started

    def _command(self) -> tuple[list[str], dict[str, str]]:
        if self.spec.kind != "reference" and not self.port:
            # no url: a free loopback port, handed over as {port} and PORT
            self.port = _port_from_url(self.spec.url) if self.spec.url else \
                free_port(self.spec.listen_host)
        env = {**self.base_env, "PORT": str(self.port)} if self.spec.kind != "reference" \
            else dict(self.base_env)
        env |= {k: self._fill(v) for k, v in self.spec.env.items()}
        # the database through the proxy, always; in the environment (it holds the password)
        env["DATABASE_URL" if self.spec.kind == "reference" else self.spec.dsn_env] = self.spec.dsn
        if self.spec.kind == "reference":
            argv = [sys.executable, "-m", "reference_impl", "serve", "--host", self.spec.listen_host,
                    "--port", str(self.port), "--profile", self.spec.profile]
            if self.spec.chaos_hooks:
                argv.append("--chaos-hooks")
            if not self.spec.auto_migrate:
                argv.append("--no-migrate")
            env["REFERENCE_IMPL_ADMIN_TOKEN"] = self.spec.admin_token
            env["REFERENCE_IMPL_DRAIN_TIMEOUT_S"] = str(self.spec.drain_timeout_s)
            return argv, env
        self.url = self.spec.url.rstrip("/") or f"http://{self.spec.listen_host}:{self.port}"
        return ["/bin/sh", "-c", f"exec {self._fill(self.spec.command)}"], env

    def _fill(self, text: str) -> str:
        """``{port}``, ``{dsn}`` and ``{<link>}`` (a proxied host:port) filled in; other braces
        (a shell's ``${VAR}``) are left alone."""
        values = {"port": str(self.port), "dsn": self.spec.dsn, **self.spec.addresses}
        for name, value in values.items():
            text = text.replace("{" + name + "}", value)
        return text

    def _learn_port(self) -> None:
        child = self.child
        assert child is not None
        found: list[str] = []

        def listening() -> bool:
            self._alive_or_raise(child)
            match = _LISTENING.search(child.log_tail(200))
            if match:
                found.append(match.group(1))
            return bool(found)

        wait_until(listening, self.spec.ready_timeout_s, what="the app's listening line",
                   on_timeout=child.log_tail)
        self.url = found[0].rstrip("/")
        self.port = _port_from_url(self.url)

    @staticmethod
    def _alive_or_raise(child: ChildProcess) -> bool:
        if not child.alive:
            raise ProvisionError("the app exited during start", exit_code=child.poll(),
                                 output_tail=child.log_tail())
        return True

    # -- process faults ---------------------------------------------------------------

    def _require_child(self, action: str) -> ChildProcess:
        if self.spec.kind == "url":
            raise FaultError(f"{action} is unavailable: the service at {self.url} was given by URL, "
                             "so the harness does not own its process")
        if self.child is None or not self.child.alive:
            raise FaultError(f"{action}: the app is not running")
        return self.child

    def kill(self, cause: str = "app.kill") -> int:
        """SIGKILL the app (a crash); returns its exit code."""
        child = self._require_child(cause)
        code = self.supervisor.kill(child)
        self.exits.append(AppExit(time.monotonic(), code, "SIGKILL", cause))
        return code

    def terminate(self, cause: str = "app.term") -> int:
        """SIGTERM the app and wait for it to drain and exit; returns its exit code."""
        child = self._require_child(cause)
        if self.frozen:
            self.thaw()
        code = self.supervisor.stop(child)
        self.exits.append(AppExit(time.monotonic(), code, "SIGTERM", cause))
        return code

    def restart(self, *, wait_ready: bool = False) -> float:
        """Start again on the same port (after kill or terminate)."""
        self.restarts += 1
        return self.start(wait_ready=wait_ready)

    def freeze(self) -> list[int]:
        child = self._require_child("app.freeze")
        pids = child.signal_tree(signal.SIGSTOP)
        self.frozen = True
        return pids

    def thaw(self) -> list[int]:
        child = self._require_child("app.thaw")
        pids = child.signal_tree(signal.SIGCONT)
        self.frozen = False
        return pids

    def stop(self, cause: str = "teardown") -> int | None:
        """The end-of-run stop: SIGTERM with drain (recorded like any exit)."""
        if self.child is None or not self.child.alive:
            return None
        return self.terminate(cause)


def _port_from_url(url: str) -> int:
    match = re.search(r":(\d+)(?:/|$)", url)
    if not match:
        raise ProvisionError(f"cannot tell the port of {url!r}: give it explicitly (http://127.0.0.1:PORT)")
    return int(match.group(1))
