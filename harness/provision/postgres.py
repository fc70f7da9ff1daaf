"""The embedded Postgres provider: ``initdb`` + ``postgres`` in a temp dir on a loopback port.

A state machine after asyncpg's ``cluster.py``: ``init -> start -> (stop | crash
| freeze/thaw)* -> destroy``. The postmaster is a supervised child (its own
process group, ended with the conductor); backends set up their own sessions,
so process-wide actions (freeze, crash) act on the postmaster's process tree.

When running as root, Postgres (which refuses root) runs as ``postgres`` if that
user exists, else ``nobody``, and the directories are chowned to it.

Authentication: no local user is trusted. ``initdb`` sets a password for the superuser
(generated, or given: a service already running by URL must know it beforehand, so the run
reads ``$CHAOSHARNESS_PG_PASSWORD``) and every line of ``pg_hba.conf`` (the unix socket in
the private base dir, and 127.0.0.1) asks for it with scram-sha-256. The password lives in
memory, in :attr:`dsn` (which carries it: hand it to children by environment, never argv)
and in ``<base dir>/password`` (0600, so a kept data dir starts again); never in the run
directory. It is registered with :mod:`harness.redact` the moment it exists, so every
writer of the run directory and the console masks it.

Port choice: Postgres cannot be handed a bound socket, so a free port is picked
by the kernel, released and passed on; if another process takes it in between,
the start fails to bind and is retried on a new port (bounded).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import signal
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Literal
from urllib.parse import quote

from harness.errors import ProvisionError
from harness.provision.pg_binaries import find_pg_bin, pg_version
from harness.provision.pg_probe import can_query
from harness.provision.ports import free_port
from harness.provision.process import ChildProcess, Supervisor, process_tree, run_command
from harness.provision.process import signal_tree as _signal_tree
from harness.provision.ready import wait_until
from harness.redact import register_secret

__all__ = ["PASSWORD_ENV", "EmbeddedPostgres", "StopMode", "pg_run_user"]

#: The environment variable that gives the embedded superuser's password (else generated).
PASSWORD_ENV = "CHAOSHARNESS_PG_PASSWORD"

_HBA = (
    "# chaosharness: no user is trusted; the superuser's password, over scram-sha-256\n"
    "local all all scram-sha-256\n"
    "host all all 127.0.0.1/32 scram-sha-256\n"
)

StopMode = Literal["smart", "fast", "immediate"]
_STOP_SIGNALS: dict[str, int] = {
    "smart": signal.SIGTERM,
    "fast": signal.SIGINT,
    "immediate": signal.SIGQUIT,
}


def pg_run_user() -> str | None:
    """The user Postgres runs as: ``None`` (ourselves) unless we are root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise ProvisionError("running as root, but neither user 'postgres' nor 'nobody' exists")


def _chown_tree(path: Path, user: str) -> None:
    entry = pwd.getpwnam(user)
    for root, dirs, files in os.walk(path):
        os.chown(root, entry.pw_uid, entry.pw_gid)
        for name in dirs + files:
            os.chown(os.path.join(root, name), entry.pw_uid, entry.pw_gid, follow_symlinks=False)


class EmbeddedPostgres:
    """A throwaway Postgres server on 127.0.0.1.

    ``fsync`` stays on by default: a harness that checks durability must not
    switch it off. ``keep`` leaves the data directory in place at the end.
    Without a ``supervisor`` the server owns one (logs in ``log_dir`` or the
    base dir).
    """

    provider = "embedded"

    def __init__(
        self,
        *,
        supervisor: Supervisor | None = None,
        base_dir: Path | None = None,
        log_dir: Path | None = None,
        port: int | None = None,
        fsync: bool = True,
        keep: bool = False,
        max_connections: int = 100,
        ready_timeout: float = 30.0,
        password: str | None = None,
    ) -> None:
        self._external_supervisor = supervisor
        self._own_supervisor: Supervisor | None = None
        self._given_base = Path(base_dir) if base_dir else None
        self._log_dir = Path(log_dir) if log_dir else None
        self.requested_port = port
        self.fsync = fsync
        self.keep = keep
        self.max_connections = max_connections
        self.ready_timeout = ready_timeout
        self.base_dir: Path | None = None
        self.port: int = 0
        self.host = "127.0.0.1"
        self.user = "postgres"
        self.run_as: str | None = None
        self.bindir: Path | None = None
        self.version = ""
        self.child: ChildProcess | None = None
        self.frozen = False
        self.password = ""
        self._given_password = password or None

    # -- properties ------------------------------------------------------------------

    @property
    def dsn(self) -> str:
        """The superuser's DSN, password included (hand it to children by environment only)."""
        return self.dsn_for("postgres")

    def dsn_for(self, database: str) -> str:
        password = quote(self.password, safe="")
        return f"postgresql://{self.user}:{password}@{self.host}:{self.port}/{database}"

    @property
    def data_dir(self) -> Path:
        if self.base_dir is None:
            raise ProvisionError("embedded Postgres is not initialised")
        return self.base_dir / "data"

    @property
    def pid(self) -> int | None:
        return self.child.pid if self.child is not None and self.child.alive else None

    @property
    def supervisor(self) -> Supervisor:
        sup = self._external_supervisor or self._own_supervisor
        if sup is None:
            raise RuntimeError("EmbeddedPostgres used outside its 'with' block and without a supervisor")
        return sup

    def status(self) -> str:
        """``stopped``, ``frozen`` or ``running``."""
        if self.pid is None:
            return "stopped"
        return "frozen" if self.frozen else "running"

    def backend_pids(self) -> list[int]:
        """The postmaster's child processes (backends and auxiliary processes)."""
        return process_tree(self.pid)[1:] if self.pid else []

    # -- lifecycle -------------------------------------------------------------------

    def __enter__(self) -> EmbeddedPostgres:
        try:
            self.init()
            self.start()
        except BaseException:
            self.destroy()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.destroy()

    def init(self) -> None:
        """``initdb`` into the base dir (a new temp dir unless one was given)."""
        if self.base_dir is not None:
            return
        self.bindir = find_pg_bin()
        self.version = pg_version(self.bindir)
        self.run_as = pg_run_user()
        if self._given_base is not None:
            self._given_base.mkdir(parents=True, exist_ok=True)
            self.base_dir = self._given_base
        else:
            self.base_dir = Path(tempfile.mkdtemp(prefix="chaosharness-pg-"))
        if self._external_supervisor is None:
            self._own_supervisor = Supervisor(self._log_dir or self.base_dir / "logs")
            self._own_supervisor.__enter__()
        if not self.keep and self._given_base is None:  # a SIGKILLed owner leaves no temp dir
            self.supervisor.remove_on_crash(self.base_dir)
        (self.base_dir / "sock").mkdir(exist_ok=True)
        if (self.data_dir / "PG_VERSION").exists():
            self.password = self._read_password()
        else:
            self.password = self._write_password()
        if self.run_as:
            _chown_tree(self.base_dir, self.run_as)
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb()

    @property
    def _password_file(self) -> Path:
        assert self.base_dir is not None
        return self.base_dir / "password"

    def _write_password(self) -> str:
        """A new password in ``<base>/password`` (0600; initdb reads it, a later start too)."""
        password = self._given_password or secrets.token_urlsafe(24)
        if "\n" in password or "\r" in password:
            raise ProvisionError(f"${PASSWORD_ENV}: a password on one line, please")
        register_secret(password)
        fd = os.open(self._password_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(password + "\n")
        return password

    def _read_password(self) -> str:
        try:
            password = self._password_file.read_text().strip()
        except OSError as exc:
            raise ProvisionError(
                f"{self.data_dir} exists but {self._password_file} cannot be read ({exc}): the "
                "superuser's password is kept there; remove the directory to start afresh"
            ) from exc
        register_secret(password)
        return password

    def _initdb(self) -> None:
        assert self.bindir is not None and self.base_dir is not None
        argv = [
            str(self.bindir / "initdb"), "-D", str(self.data_dir), "-U", self.user,
            "--pwfile", str(self._password_file), "--auth", "scram-sha-256",
            "--encoding", "UTF8", "--locale", "C", "--no-instructions",
        ]
        if not self.fsync:
            argv.append("--no-sync")
        run_command(argv, user=self.run_as, timeout=120.0, cwd=self.base_dir)
        (self.data_dir / "pg_hba.conf").write_text(_HBA)
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write(
                "\n# chaosharness embedded server\n"
                "listen_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.base_dir / 'sock'}'\n"
                f"fsync = {'on' if self.fsync else 'off'}\n"
                f"max_connections = {self.max_connections}\n"
                "shared_buffers = 32MB\n"
                "log_min_messages = warning\n"
                "log_connections = off\n"
                "password_encryption = 'scram-sha-256'\n"
            )

    def start(self) -> float:
        """Start the server and wait until it answers ``select 1``; returns seconds to ready."""
        self.init()
        if self.pid is not None:
            return 0.0
        attempts = 1 if self.requested_port or self.port else 3
        for attempt in range(attempts):
            if not self.port:
                self.port = self.requested_port or free_port()
            try:
                return self._start_once()
            except ProvisionError:
                if attempt + 1 == attempts or "could not bind" not in self._log_tail():
                    raise
                self.port = 0  # the port was taken in between: try another
        raise AssertionError("unreachable")

    def _start_once(self) -> float:
        assert self.bindir is not None
        started = time.monotonic()
        self.child = self.supervisor.spawn(
            f"postgres-{self.port}",
            [str(self.bindir / "postgres"), "-D", str(self.data_dir), "-p", str(self.port)],
            user=self.run_as,
            stop_signal=signal.SIGINT,
            stop_timeout=30.0,
            pdeath_signal=signal.SIGQUIT,
        )
        self.frozen = False
        child = self.child

        def ready() -> bool:
            if not child.alive:
                raise ProvisionError(
                    "postgres exited during start", exit_code=child.poll(),
                    output_tail=child.log_tail(),
                )
            return can_query(self.dsn, timeout=1.0)

        try:
            wait_until(ready, self.ready_timeout, what=f"postgres on port {self.port}",
                       on_timeout=child.log_tail)
        except ProvisionError:
            self.supervisor.kill(child)
            raise
        return time.monotonic() - started

    def _log_tail(self) -> str:
        return self.child.log_tail() if self.child is not None else ""

    def stop(self, mode: StopMode = "fast", timeout: float = 30.0) -> int | None:
        """Shut down with Postgres' own modes (smart=SIGTERM, fast=SIGINT, immediate=SIGQUIT).

        A frozen server is thawed first. Returns the postmaster's exit code, or
        ``None`` when it was not running.
        """
        if mode not in _STOP_SIGNALS:
            raise ValueError(f"stop mode must be one of {sorted(_STOP_SIGNALS)}, got {mode!r}")
        child = self.child
        if child is None or not child.alive:
            return None
        if self.frozen:
            self.thaw()
        child.signal_process(_STOP_SIGNALS[mode])
        if child.wait(timeout) is None:
            return self.supervisor.stop(child, timeout=5.0)
        self.supervisor.reap(child)
        return child.returncode

    def crash(self) -> None:
        """SIGKILL the postmaster and every process of its tree; the next start runs crash recovery."""
        child = self.child
        if child is None or not child.alive:
            return
        self.supervisor.kill(child)
        self.frozen = False

    def restart(self, mode: StopMode = "fast") -> float:
        """Stop with ``mode`` and start again; returns seconds from the start to ready."""
        self.stop(mode)
        return self.start()

    def freeze(self) -> list[int]:
        """SIGSTOP the postmaster and all its backends; returns the pids frozen."""
        if self.pid is None:
            raise ProvisionError("cannot freeze postgres: it is not running")
        pids = process_tree(self.pid)
        _signal_tree(pids, signal.SIGSTOP)
        self.frozen = True
        return pids

    def thaw(self) -> list[int]:
        """SIGCONT the postmaster and all its backends."""
        pids = process_tree(self.pid) if self.pid else []
        _signal_tree(list(reversed(pids)), signal.SIGCONT)
        self.frozen = False
        return pids

    def destroy(self) -> None:
        """Stop the server if it runs, and remove the base dir unless ``keep``."""
        try:
            if self.child is not None and self.child.alive:
                if self.frozen:
                    self.thaw()
                self.stop("immediate", timeout=10.0)
        finally:
            if self._own_supervisor is not None:
                self._own_supervisor.__exit__(None, None, None)
                self._own_supervisor = None
            if self.base_dir is not None and not self.keep and self._given_base is None:
                shutil.rmtree(self.base_dir, ignore_errors=True)
                if self._external_supervisor is not None:
                    self._external_supervisor.remove_on_crash(self.base_dir, remove=False)
            self.base_dir = None if not self.keep else self.base_dir
