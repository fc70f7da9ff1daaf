"""The fault timeline: the scenario's ``[[fault]]`` entries applied against the run's clock.

A :class:`Timeline` runs in its own thread. Every apply and remove is appended to
``timeline.jsonl`` (docs/run-directory.md) with its planned and actual time, the
outcome and the error. A fault that fails to apply is recorded as such and the
run goes on. :meth:`Timeline.rollback` first stops the timeline (no fault fires once it
is called; a fault being applied finishes and is then undone), then removes every fault
still active, newest first, whatever happened (it is called on every path out of a run,
Ctrl-C included, before the load is stopped), and marks those lines ``rollback: true``.
Every apply/remove line carries what the fault acts on (``affects``, ``link``) and how its
effect ends (``undo``), from the catalogue, so verify never has to guess them from the action's name.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import json
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path

from harness.clock import wall
from harness.faults.actions import ACTIONS, Action, FaultEnv, Undo
from harness.faults.catalog import effect_of
from harness.records.timeline import TimelineEvent
from harness.redact import redact_obj, write_private
from harness.scenario.schema import Fault

__all__ = ["Timeline", "TimelineLog"]


class TimelineLog:
    """Appends :class:`~harness.records.TimelineEvent` lines to ``timeline.jsonl``;
    thread-safe; times relative to ``t0``."""

    def __init__(self, path: Path, t0: float) -> None:
        self.path = path
        self.t0 = t0
        self._lock = threading.Lock()

    def now_s(self) -> float:
        """The run's clock now (``t_s``)."""
        return round(time.monotonic() - self.t0, 6)

    def append(self, event: TimelineEvent) -> TimelineEvent:
        """Append one line (redacted: a fault's error may quote a DSN); returns it as given."""
        line = json.dumps(redact_obj(event.to_json()), default=str) + "\n"
        with self._lock:
            write_private(self.path, line, append=True)
        return event

    def mark(self, event: str, **extra: object) -> TimelineEvent:
        """Append a line of the run's own (``run_start``, ``load_stop``, ...) at the time now;
        ``extra`` are its few fields (docs/run-directory.md)."""
        return self.append(TimelineEvent(event, self.now_s(), wall(), extra=dict(extra)))


def _line(event: str, fault: Fault, repeat: int, t_s: float, *, ok: bool,
          duration_s: float, error: str | None = None, planned_t_s: float | None = None,
          traceback: str | None = None, detail: dict[str, object] | None = None,
          rollback: bool | None = None) -> TimelineEvent:
    """An apply/remove line of one fault application: what every such line shares (the
    fault, and from the catalogue what it acts on and how it ends) and its outcome."""
    return TimelineEvent(event, t_s, wall(), fault=fault.index, repeat=repeat,
                         action=fault.action, params=dict(fault.params),
                         effect=effect_of(fault.action, fault.params), planned_t_s=planned_t_s,
                         ok=ok, error=error, traceback=traceback, duration_s=duration_s,
                         detail=detail, rollback=rollback)


class _Active:
    """A fault currently applied: how to remove it."""

    def __init__(self, fault: Fault, repeat: int, undo: Undo) -> None:
        self.fault = fault
        self.repeat = repeat
        self.undo = undo


class Timeline:
    """Applies faults at their planned times and removes them after their window."""

    def __init__(self, faults: tuple[Fault, ...], env: FaultEnv, log: TimelineLog,
                 *, start_offset: float = 0.0, actions: Mapping[str, Action] = ACTIONS) -> None:
        self.env = env
        self.actions = actions
        self.log = log
        self.start_offset = start_offset  # run time at which the scenario's clock reads 0
        self._queue: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._active: dict[tuple[int, int], _Active] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._rolled_back = False  # after rollback, a late-finishing apply undoes itself
        self._thread = threading.Thread(target=self._run, name="fault-timeline", daemon=True)
        for fault in faults:
            for repeat, (start, _end) in enumerate(fault.windows()):
                self._push(start, functools.partial(self._apply, fault, repeat))

    @property
    def active(self) -> list[str]:
        """Actions currently applied, for the progress line."""
        with self._lock:
            return [a.fault.action for a in self._active.values()]

    def _push(self, scenario_t: float, fn: Callable[[], None]) -> None:
        with self._lock:
            heapq.heappush(self._queue, (scenario_t, next(self._seq), fn))

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                head = self._queue[0] if self._queue else None
            if head is None:
                if self._stop.wait(0.05):
                    return
                continue
            due = self.log.t0 + self.start_offset + head[0]
            if self._stop.wait(max(0.0, min(0.05, due - time.monotonic()))):
                return
            if time.monotonic() >= due:
                with self._lock:  # stop() sets the event under this lock: nothing fires after it
                    if self._stop.is_set():
                        return
                    _, _, fn = heapq.heappop(self._queue)
                fn()

    def _planned(self, scenario_t: float) -> float:
        return round(self.start_offset + scenario_t, 6)

    def _apply(self, fault: Fault, repeat: int) -> None:
        start, end = fault.windows()[repeat]
        started = time.monotonic()
        at = round(started - self.log.t0, 6)
        planned = self._planned(start)
        try:
            applied = self.actions[fault.action](self.env, fault, fault.params)
        except Exception as exc:  # noqa: BLE001 - any failure is recorded and the run goes on
            self.log.append(_line("apply", fault, repeat, at, planned_t_s=planned, ok=False,
                                  error=f"{type(exc).__name__}: {exc}",
                                  traceback=traceback.format_exc(),
                                  duration_s=round(time.monotonic() - started, 6)))
            self.log.append(_line("remove", fault, repeat, self.log.now_s(), ok=False,
                                  error="not applied", duration_s=0.0))
            return
        self.log.append(_line("apply", fault, repeat, at, planned_t_s=planned, ok=True,
                              duration_s=round(time.monotonic() - started, 6),
                              detail=dict(applied.detail)))
        if applied.undo is None:
            self.log.append(_line("remove", fault, repeat, self.log.now_s(), ok=True,
                                  duration_s=0.0))
            return
        with self._lock:
            self._active[(fault.index, repeat)] = _Active(fault, repeat, applied.undo)
            late = self._rolled_back
        if late:  # the rollback ran while this apply was still under way: undo it now
            self._remove(fault.index, repeat, rollback=True)
        elif end is not None:
            self._push(end, lambda: self._remove(fault.index, repeat, rollback=False))

    def _remove(self, index: int, repeat: int, *, rollback: bool) -> None:
        with self._lock:
            active = self._active.pop((index, repeat), None)
        if active is None:
            return
        fault = active.fault
        start, end = fault.windows()[repeat]
        started = time.monotonic()
        try:
            detail = dict(active.undo())
            ok, error = True, None
        except Exception as exc:  # noqa: BLE001 - recorded; rollback must go on to the others
            detail, ok, error = {}, False, f"{type(exc).__name__}: {exc}"
        self.log.append(_line("remove", fault, repeat, self.log.now_s(),
                              planned_t_s=None if end is None else self._planned(end), ok=ok,
                              error=error, duration_s=round(time.monotonic() - started, 6),
                              detail=detail, rollback=rollback))

    def stop(self, timeout: float = 30.0) -> None:
        """Stop scheduling: faults not yet applied never will be, scheduled removals are left
        to :meth:`rollback`; waits (bounded) for an apply or remove under way to finish."""
        with self._lock:
            self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def rollback(self, timeout: float = 30.0) -> int:
        """Stop the timeline, then remove every fault still active, newest first; returns how
        many. Every undo is tried even when one fails or its line cannot be written (the first
        such error is raised afterwards); a fault whose apply outlives ``timeout`` is undone by
        its own thread when the apply returns. Calling it again is harmless."""
        self.stop(timeout)
        with self._lock:
            self._rolled_back = True
            keys = sorted(self._active, reverse=True)
        first_error: Exception | None = None
        for index, repeat in keys:
            try:
                self._remove(index, repeat, rollback=True)
            except Exception as exc:  # noqa: BLE001 - the other faults must still be undone
                first_error = first_error or exc
        if first_error is not None:
            raise first_error
        return len(keys)
