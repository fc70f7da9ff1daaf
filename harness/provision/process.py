"""The process supervisor: the only module that creates or signals processes.

Every child:

- runs in its own session and process group, so a Ctrl-C at the terminal
  reaches the conductor only and the conductor decides how children stop;
- dies with the conductor: a watchdog process (``harness.provision.watchdog``)
  holds a pipe from the supervisor and, when that pipe closes without a
  goodbye (the conductor was SIGKILLed or crashed), ends every registered
  child's group and process tree; on Linux, children spawned from the main
  thread also get ``PR_SET_PDEATHSIG`` as a second line of defence (a thread's
  exit would fire it, so other threads' children rely on the watchdog);
- writes stdout and stderr into a pipe that a :class:`~harness.provision.logpump.LogPump`
  copies into ``<log_dir>/<name>.log`` a redacted line at a time (created 0600, in a 0700
  directory: a child's output may name its secrets, the run's registered ones are masked);
- is stopped on every path by its stop signal -> bounded wait -> SIGCONT +
  SIGKILL of its group and its descendants -> wait.

Starts and exits are appended to ``<log_dir>/processes.jsonl``, redacted
(:func:`harness.redact.redact_obj`: a ``--dsn`` argument keeps no password).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import pwd
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO

import psutil

from harness.clock import wall
from harness.errors import ProvisionError
from harness.provision.logpump import LogPump
from harness.redact import private_dir, redact, redact_obj, write_private

__all__ = ["ChildProcess", "Supervisor", "process_tree", "run_command", "signal_tree"]

_PR_SET_PDEATHSIG = 1



def _pdeathsig_preexec(sig: int) -> None:
    """Ask the kernel to send ``sig`` to this (child) process when its parent thread dies."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the watchdog alone covers it
        pass


def process_tree(pid: int) -> list[int]:
    """``pid`` and every descendant of it, parents first (empty when it is gone)."""
    try:
        root = psutil.Process(pid)
        return [pid] + [p.pid for p in root.children(recursive=True)]
    except psutil.Error:
        return []


def signal_tree(pids: Sequence[int], sig: int) -> None:
    """Send ``sig`` to each pid, ignoring those already gone."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _user_ids(user: str) -> tuple[int, int]:
    try:
        entry = pwd.getpwnam(user)
    except KeyError as exc:
        raise ProvisionError(f"user {user!r} does not exist on this machine") from exc
    return entry.pw_uid, entry.pw_gid


class ChildProcess:
    """One supervised child. Created by :meth:`Supervisor.spawn` only."""

    def __init__(
        self,
        name: str,
        popen: subprocess.Popen[bytes],
        log_path: Path,
        stop_signal: int,
        stop_timeout: float,
        pump: LogPump | None = None,
    ) -> None:
        self.name = name
        self.pump = pump
        self.popen = popen
        self.pid = popen.pid
        self.pgid = popen.pid  # start_new_session: the child leads its own group
        self.log_path = log_path
        self.stop_signal = stop_signal
        self.stop_timeout = stop_timeout
        self.started_monotonic = time.monotonic()
        self.exit_recorded = False

    def poll(self) -> int | None:
        """The return code once the child has exited, else ``None``."""
        return self.popen.poll()

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None

    @property
    def returncode(self) -> int | None:
        return self.popen.returncode

    def send_signal(self, sig: int) -> None:
        """Send ``sig`` to the child's whole process group."""
        if self.popen.poll() is None:
            _signal_group(self.pgid, sig)

    def signal_process(self, sig: int) -> None:
        """Send ``sig`` to the child process alone (not its group)."""
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.popen.send_signal(sig)

    def signal_tree(self, sig: int) -> list[int]:
        """Send ``sig`` to the child and every descendant; returns the pids signalled."""
        pids = process_tree(self.pid) if self.alive else []
        signal_tree(pids, sig)
        return pids

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait for the child to exit; ``None`` if it is still running after ``timeout``.
        Once it has exited, its last lines are in its log too (the pump is given up to 1 s):
        a caller that reads the log after a wait must not find it cut short."""
        try:
            code = self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        if self.pump is not None:
            self.pump.join(1.0)
        return code

    def log_tail(self, lines: int = 40) -> str:
        """The last ``lines`` lines of the child's log (stdout and stderr)."""
        if self.pump is not None and self.popen.poll() is not None:
            self.pump.join(1.0)  # it has exited: its last lines are on their way to the log
        try:
            with self.log_path.open("rb") as fh:
                fh.seek(0, os.SEEK_END)
                size = fh.tell()
                fh.seek(max(0, size - 64 * 1024))
                data = fh.read().decode("utf-8", "replace")
        except OSError:
            return ""
        return "\n".join(data.splitlines()[-lines:])

    def __repr__(self) -> str:
        state = "running" if self.alive else f"exited {self.returncode}"
        return f"<ChildProcess {self.name} pid={self.pid} {state}>"


class _Watchdog:
    """A process that ends registered children if the supervisor dies without saying goodbye."""

    def __init__(self, log_path: Path) -> None:
        self._lock = threading.Lock()
        log = _open_log(log_path)
        try:
            self._popen = subprocess.Popen(
                [sys.executable, "-m", "harness.provision.watchdog", str(os.getpid())],
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=log,
                start_new_session=True,
                close_fds=True,
                env={**os.environ, "PYTHONPATH": _package_root()},
            )
        finally:
            log.close()

    def _send(self, line: str) -> None:
        stdin = self._popen.stdin
        if stdin is None:
            return
        with self._lock, contextlib.suppress(BrokenPipeError, ValueError):
            stdin.write((line + "\n").encode())
            stdin.flush()

    def watch(self, child: ChildProcess) -> None:
        self._send(f"add {child.pid} {child.stop_signal}")

    def forget(self, child: ChildProcess) -> None:
        self._send(f"del {child.pid}")

    def remove_on_crash(self, path: Path, remove: bool = True) -> None:
        self._send(f"{'rm' if remove else 'keep'} {path}")

    def delete_proxy_on_crash(self, url: str, name: str, delete: bool = True) -> None:
        self._send(f"{'proxy' if delete else 'unproxy'} {url} {name}")

    def close(self) -> None:
        self._send("bye")
        with contextlib.suppress(OSError, ValueError):
            if self._popen.stdin is not None:
                self._popen.stdin.close()
        try:
            self._popen.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._popen.kill()
            self._popen.wait()


def _open_log(path: Path) -> BinaryIO:
    """A child's log, opened for appending; created readable by its owner only."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab")


def _package_root() -> str:
    root = str(Path(__file__).resolve().parents[2])
    existing = os.environ.get("PYTHONPATH")
    return f"{root}{os.pathsep}{existing}" if existing else root


class Supervisor:
    """Starts children and guarantees they end.

    Use as a context manager: on exit (normal, exception, Ctrl-C) every child
    still running is stopped in reverse start order. Construction has no side
    effects; the watchdog starts on ``__enter__``.
    """

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = Path(log_dir)
        self._children: list[ChildProcess] = []
        self._watchdog: _Watchdog | None = None
        self._lock = threading.Lock()

    # -- lifecycle -----------------------------------------------------------------

    def __enter__(self) -> Supervisor:
        private_dir(self.log_dir)
        self._watchdog = _Watchdog(self.log_dir / "watchdog.log")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop_all()
        if self._watchdog is not None:
            self._watchdog.close()
            self._watchdog = None

    def remove_on_crash(self, path: Path, remove: bool = True) -> None:
        """Have the watchdog remove the directory ``path`` if this process dies without
        closing the supervisor (``remove=False`` takes that back)."""
        if self._watchdog is not None:
            self._watchdog.remove_on_crash(path.resolve(), remove)

    def delete_proxy_on_crash(self, url: str, name: str, delete: bool = True) -> None:
        """Have the watchdog delete the proxy ``name`` (its toxics with it) through the
        Toxiproxy API at ``url`` if this process dies without closing the supervisor: a
        proxy server it does not own would keep the run's faults on (``delete=False``
        takes that back)."""
        if self._watchdog is not None:
            self._watchdog.delete_proxy_on_crash(url.rstrip("/"), name, delete)

    @property
    def children(self) -> list[ChildProcess]:
        with self._lock:
            return list(self._children)

    # -- spawning ------------------------------------------------------------------

    def spawn(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        user: str | None = None,
        stop_signal: int = signal.SIGTERM,
        stop_timeout: float = 5.0,
        pdeath_signal: int = signal.SIGKILL,
        stdout_pipe: bool = False,
    ) -> ChildProcess:
        """Start ``argv`` as a supervised child named ``name``.

        ``user`` runs it as that user (the supervisor must be root). With
        ``stdout_pipe`` the child's stdout is a pipe (``child.popen.stdout``)
        and only stderr goes to the log.
        """
        if self._watchdog is None:
            raise RuntimeError("Supervisor.spawn called outside its 'with' block")
        private_dir(self.log_dir)
        log_path = self._log_path(name)
        kwargs = self._popen_kwargs(env, cwd, user, pdeath_signal)
        log = _open_log(log_path)
        read_fd, write_fd = os.pipe()  # the child's output, redacted into its log by a pump
        try:
            popen = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE if stdout_pipe else write_fd,
                stderr=write_fd,
                **kwargs,
            )
        except OSError as exc:
            os.close(read_fd)
            log.close()
            raise ProvisionError(
                f"could not start {name}: {exc}", command=list(argv)
            ) from exc
        finally:
            os.close(write_fd)
        pump = LogPump(name, read_fd, log).start()
        child = ChildProcess(name, popen, log_path, stop_signal, stop_timeout, pump)
        with self._lock:
            self._children.append(child)
        self._watchdog.watch(child)
        self._record({"event": "start", "name": name, "pid": child.pid, "argv": list(argv)})
        return child

    def _log_path(self, name: str) -> Path:
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
        return self.log_dir / f"{safe}.log"

    @staticmethod
    def _popen_kwargs(
        env: Mapping[str, str] | None,
        cwd: Path | None,
        user: str | None,
        pdeath_signal: int,
    ) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "start_new_session": True,
            "close_fds": True,
            "cwd": str(cwd) if cwd else None,
            "env": dict(env) if env is not None else None,
        }
        if user is not None and os.geteuid() == 0:
            uid, gid = _user_ids(user)
            kwargs.update(user=uid, group=gid, extra_groups=[])
        if threading.current_thread() is threading.main_thread() and sys.platform == "linux":
            kwargs["preexec_fn"] = lambda: _pdeathsig_preexec(pdeath_signal)
        return kwargs

    # -- stopping ------------------------------------------------------------------

    def stop(self, child: ChildProcess, timeout: float | None = None) -> int:
        """Stop ``child``: its stop signal, a bounded wait, then SIGKILL of group and tree.

        Returns the child's return code (negative: the signal that ended it).
        """
        timeout = child.stop_timeout if timeout is None else timeout
        if child.alive:
            tree = process_tree(child.pid)
            signal_tree(tree, signal.SIGCONT)  # a frozen child cannot act on SIGTERM
            child.signal_process(child.stop_signal)
            if child.wait(timeout) is None:
                self._kill(child, tree)
            else:
                self._kill_leftovers(child, tree)
        code = child.wait(timeout=10.0)
        if code is None:  # cannot happen short of an uninterruptible sleep; say so
            raise ProvisionError(f"{child.name} (pid {child.pid}) did not die after SIGKILL")
        self.reap(child)
        return code

    def kill(self, child: ChildProcess) -> int:
        """SIGKILL the child's group and tree at once (a crash), and reap it."""
        tree = process_tree(child.pid)
        self._kill(child, tree)
        code = child.wait(timeout=10.0)
        _wait_gone(tree[1:], timeout=5.0)
        self.reap(child)
        return code if code is not None else -signal.SIGKILL

    @staticmethod
    def _kill(child: ChildProcess, tree: Sequence[int]) -> None:
        _signal_group(child.pgid, signal.SIGKILL)
        signal_tree(tree, signal.SIGKILL)

    @staticmethod
    def _kill_leftovers(child: ChildProcess, tree: Sequence[int]) -> None:
        """After a clean exit, end group members or descendants that outlived the child."""
        survivors = [p for p in tree[1:] if psutil.pid_exists(p)]
        deadline = time.monotonic() + 2.0
        while survivors and time.monotonic() < deadline:
            time.sleep(0.05)
            survivors = [p for p in survivors if _is_running(p)]
        signal_tree(survivors, signal.SIGKILL)
        _signal_group(child.pgid, signal.SIGKILL)

    def reap(self, child: ChildProcess) -> None:
        """Record the exit of a child that has ended and stop watching it."""
        if child.poll() is None or child.exit_recorded:
            return
        child.exit_recorded = True
        if child.pump is not None:
            child.pump.join(1.0)  # its last lines reach the log before anyone reads it
        with self._lock:
            if child in self._children:
                self._children.remove(child)
        if self._watchdog is not None:
            self._watchdog.forget(child)
        self._record(
            {"event": "exit", "name": child.name, "pid": child.pid, "returncode": child.returncode}
        )

    def stop_all(self) -> None:
        """Stop every child still running, newest first; never raises for one child."""
        for child in reversed(self.children):
            try:
                self.stop(child)
            except ProvisionError as exc:
                print(f"chaosharness: {redact(str(exc))}", file=sys.stderr)

    def _record(self, entry: dict[str, object]) -> None:
        entry = {**entry, "t_monotonic": time.monotonic(), "wall": wall()}
        with contextlib.suppress(OSError):
            write_private(self.log_dir / "processes.jsonl",
                          json.dumps(redact_obj(entry)) + "\n", append=True)


def _wait_gone(pids: Sequence[int], timeout: float) -> None:
    """Wait (bounded) until none of ``pids`` is running any more."""
    deadline = time.monotonic() + timeout
    while any(_is_running(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.02)


def _is_running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def run_command(
    argv: Sequence[str],
    *,
    user: str | None = None,
    timeout: float = 60.0,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> str:
    """Run a short command to completion (initdb, pg_ctl) and return its output.

    The command gets its own process group, which is killed if the timeout
    passes. Raises :class:`ProvisionError` with the command, exit code and
    output on failure.
    """
    kwargs = Supervisor._popen_kwargs(env, cwd, user, signal.SIGKILL)
    try:
        popen = subprocess.Popen(
            list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, **kwargs,
        )
    except OSError as exc:
        raise ProvisionError(f"could not run {argv[0]}: {exc}", command=argv) from exc
    try:
        out, _ = popen.communicate(timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        _signal_group(popen.pid, signal.SIGKILL)
        out, _ = popen.communicate()
        raise ProvisionError(
            f"{Path(argv[0]).name} did not finish within {timeout:.0f}s",
            command=argv, output_tail=out.decode("utf-8", "replace")[-4000:],
        ) from exc
    except BaseException:
        _signal_group(popen.pid, signal.SIGKILL)
        popen.wait()
        raise
    text = out.decode("utf-8", "replace")
    if popen.returncode != 0:
        raise ProvisionError(
            f"{Path(argv[0]).name} failed", command=argv,
            exit_code=popen.returncode, output_tail=text[-4000:],
        )
    return text

