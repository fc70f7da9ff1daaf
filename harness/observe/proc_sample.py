"""psutil figures of one process, or of a process and its children summed (Postgres).

``cpu_percent`` is measured between two calls on the same ``psutil.Process``
object, so the sampler keeps one object per pid across ticks (and drops those
that were not seen in a tick). A new pid's first CPU figure is therefore 0.0.
Calls are synchronous and may block on ``/proc``; the observer runs them in a
worker thread under a timeout.
"""

from __future__ import annotations

import contextlib
from typing import Any

import psutil

__all__ = ["ProcessSampler"]

_FIGURES = ("rss_bytes", "cpu_percent", "num_fds", "num_threads")


def _figures(proc: psutil.Process) -> dict[str, Any]:
    """RSS, CPU, fds and threads of one process; ``None`` for a figure access denies.

    Raises ``psutil.NoSuchProcess`` (or ``ZombieProcess``) when the process is gone.
    """
    out: dict[str, Any] = dict.fromkeys(_FIGURES)
    with proc.oneshot():
        with contextlib.suppress(psutil.AccessDenied):
            out["rss_bytes"] = proc.memory_info().rss
        with contextlib.suppress(psutil.AccessDenied):
            out["cpu_percent"] = round(proc.cpu_percent(None), 2)
        with contextlib.suppress(psutil.AccessDenied):
            out["num_fds"] = proc.num_fds()
        with contextlib.suppress(psutil.AccessDenied):
            out["num_threads"] = proc.num_threads()
    return out


def _add(total: dict[str, Any], part: dict[str, Any]) -> None:
    for key in _FIGURES:
        if part[key] is not None:
            total[key] = (total[key] or 0) + part[key]


class ProcessSampler:
    """Samples one pid per call; keeps ``psutil.Process`` objects between calls for CPU%.

    Not thread-safe: give each watched process its own sampler.
    """

    def __init__(self) -> None:
        self._procs: dict[int, psutil.Process] = {}

    def _process(self, pid: int, seen: dict[int, psutil.Process]) -> psutil.Process:
        proc = self._procs.get(pid)
        if proc is None or not proc.is_running():  # new pid, or the pid was reused
            proc = psutil.Process(pid)
        seen[pid] = proc
        return proc

    def sample(self, pid: int, *, with_children: bool = False) -> dict[str, Any] | None:
        """Figures of ``pid`` (plus its descendants summed, with ``processes``, if asked).

        ``None`` when the process does not exist (it exited or is a zombie).
        """
        seen: dict[int, psutil.Process] = {}
        try:
            root = self._process(pid, seen)
            out: dict[str, Any] = {"pid": pid, **_figures(root)}
            children = root.children(recursive=True) if with_children else []
        except psutil.NoSuchProcess:  # includes ZombieProcess
            self._procs = {}
            return None
        if with_children:
            count = 1
            for child in children:
                try:
                    _add(out, _figures(self._process(child.pid, seen)))
                    count += 1
                except psutil.NoSuchProcess:
                    continue  # a backend that ended between listing and reading
            out["processes"] = count
            if out["cpu_percent"] is not None:
                out["cpu_percent"] = round(out["cpu_percent"], 2)
        self._procs = seen
        return out
