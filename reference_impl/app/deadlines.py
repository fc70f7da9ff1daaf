"""Request deadlines with one timer for all requests, instead of one timer per request.

Every request gets the same budget, so requests expire in the order they
started: ``watch`` appends the request's task to an insertion-ordered dict and
a single timer, armed for the oldest deadline, cancels whatever has expired
and re-arms for the next (at least ``resolution_s`` later, so a busy server
sweeps about ``1 / resolution_s`` times a second whatever its request rate).
The price is precision: a request may run up to ``resolution_s`` past its
deadline. The cancellation works as ``asyncio.timeout``'s does: the watcher
learns from ``unwatch`` that the deadline fired and calls ``task.uncancel()``.
"""

from __future__ import annotations

import asyncio

__all__ = ["Deadlines"]

DEADLINE_MESSAGE = "request deadline exceeded"


class Deadlines:
    """Cancels watched tasks ``deadline_s`` after ``watch``, to within ``resolution_s``."""

    def __init__(self, deadline_s: float, resolution_s: float = 0.02) -> None:
        if deadline_s <= 0 or resolution_s <= 0:
            raise ValueError(f"Deadlines needs deadline_s and resolution_s > 0, "
                             f"got {deadline_s}, {resolution_s}")
        self.deadline_s = deadline_s
        self.resolution_s = resolution_s
        self.fired = 0
        self._due: dict[asyncio.Task[object], float] = {}  # insertion order = expiry order
        self._cancelled: set[asyncio.Task[object]] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def watched(self) -> int:
        """Requests being watched now (a property, not ``__len__``: an idle one stays truthy)."""
        return len(self._due)

    def watch(self, task: asyncio.Task[object]) -> None:
        """Start ``task``'s deadline (a task is watched for one request at a time)."""
        loop = task.get_loop()
        if loop is not self._loop:  # a new loop (tests): the old one's tasks are gone
            self._loop, self._timer = loop, None
            self._due.clear()
            self._cancelled.clear()
        due = loop.time() + self.deadline_s
        self._due[task] = due
        if self._timer is None:
            self._timer = loop.call_at(due, self._sweep)

    def unwatch(self, task: asyncio.Task[object]) -> bool:
        """Stop watching ``task``. True when its deadline fired: the caller then owes the
        task an ``uncancel()``, and answers as timed out if the cancellation was ours alone."""
        if self._due.pop(task, None) is not None:
            return False
        if task in self._cancelled:
            self._cancelled.remove(task)
            return True
        return False

    def _sweep(self) -> None:
        loop = self._loop
        assert loop is not None
        now = loop.time()
        expired = []
        for task, due in self._due.items():
            if due > now:
                break
            expired.append(task)
        for task in expired:
            del self._due[task]
            self._cancelled.add(task)
            self.fired += 1
            task.cancel(DEADLINE_MESSAGE)
        self._timer = None
        if self._due:
            first_due = next(iter(self._due.values()))
            self._timer = loop.call_at(max(first_due, now + self.resolution_s), self._sweep)
