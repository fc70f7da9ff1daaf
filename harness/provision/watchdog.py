"""The supervisor's watchdog: ends registered children when the supervisor dies.

Run as ``python -m harness.provision.watchdog SUPERVISOR_PID`` by
:class:`harness.provision.process.Supervisor`, in a session of its own. It reads
commands on stdin, one per line::

    add PID STOPSIG   watch the child PID (its process group and descendants)
    del PID           stop watching it (the supervisor reaped it)
    rm PATH           remove the directory PATH too (after the children are ended)
    keep PATH         do not remove PATH (its owner removed or kept it)
    proxy URL NAME    delete the proxy NAME (and so its toxics) through the Toxiproxy API
                      at URL: a proxy server the supervisor does not own outlives it
    unproxy URL NAME  do not (the run deleted it itself)
    bye               the supervisor is closing normally: exit without acting

When stdin reaches end-of-file without ``bye`` (the supervisor was killed or
crashed), the faults go first: every ``proxy`` is deleted from its server (two
seconds at most each), so a latency or a cut link the run applied on a real
Toxiproxy ends with the run. Then every watched child is ended: its tree is
collected, resumed (SIGCONT, a frozen process cannot act on signals), sent its stop
signal, given two seconds, then its group and tree are SIGKILLed; then every ``rm``
directory (an embedded Postgres' temp dir) is removed. What it does is printed to
its log (``watchdog.log``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
import time

import psutil

from harness.faults.network import ProxyApiError, ProxyClient
from harness.redact import redact

_PROXY_TIMEOUT_S = 2.0


def _delete_proxies(proxies: set[tuple[str, str]]) -> None:
    for url, name in sorted(proxies):
        try:
            ProxyClient(url, timeout=_PROXY_TIMEOUT_S).delete_proxy(name)
            print(redact(f"watchdog: deleted proxy {name!r} from {url}"), flush=True)
        except (ProxyApiError, ValueError) as exc:  # ValueError: an answer that is not JSON
            if getattr(exc, "status", None) != 404:  # gone already: nothing to undo
                print(redact(f"watchdog: could not delete proxy {name!r} from {url}: {exc}"),
                      flush=True)


def _tree(pid: int) -> list[int]:
    try:
        return [pid] + [p.pid for p in psutil.Process(pid).children(recursive=True)]
    except psutil.Error:
        return []


def _send(pids: list[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def _end_all(watched: dict[int, int]) -> None:
    trees = {pid: _tree(pid) for pid in watched}
    for pid, tree in trees.items():
        _send(tree, signal.SIGCONT)
        _send([pid], watched[pid])
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline and any(psutil.pid_exists(p) for p in trees):
        time.sleep(0.05)
    for pid, tree in trees.items():
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        _send(tree, signal.SIGKILL)


def main() -> int:
    """Watch until the supervisor says goodbye or disappears."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal Ctrl-C is the supervisor's to handle
    watched: dict[int, int] = {}
    paths: set[str] = set()
    proxies: set[tuple[str, str]] = set()
    for raw in sys.stdin:
        parts = raw.split()
        if not parts:
            continue
        if parts[0] == "bye":
            return 0
        if parts[0] == "add" and len(parts) == 3:
            watched[int(parts[1])] = int(parts[2])
        elif parts[0] == "del" and len(parts) == 2:
            watched.pop(int(parts[1]), None)
        elif parts[0] in ("rm", "keep") and len(parts) >= 2:
            path = raw.rstrip("\n").split(" ", 1)[1]  # the rest of the line: spaces allowed
            (paths.add if parts[0] == "rm" else paths.discard)(path)
        elif parts[0] in ("proxy", "unproxy") and len(parts) >= 3:
            url, name = parts[1], raw.rstrip("\n").split(" ", 2)[2]
            (proxies.add if parts[0] == "proxy" else proxies.discard)((url, name))
    try:
        _delete_proxies(proxies)
    finally:  # whatever a proxy server answers, the children end and the temp dirs go
        _end_all(watched)
        for path in paths:
            shutil.rmtree(path, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
