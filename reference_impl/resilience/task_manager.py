"""Background tasks with a priority queue, a bound, a concurrency limit and a memory budget.

- ``submit`` never blocks: past ``max_queue`` queued tasks it raises
  :class:`QueueFullError` with a ``retry_after_s`` estimate (the HTTP layer
  answers 503 + Retry-After), so a flood cannot grow memory without bound.
- At most ``concurrency`` tasks run at once; the queue is served by priority
  (CRITICAL first), first-in first-out within a priority.
- ``suspend()`` stops dispatching (optionally still letting urgent priorities
  through); ``on_memory_pressure(level)`` wires it to the memory monitor, and
  with ``memory_budget_bytes`` dispatch also waits while the process is over it.
- Each attempt runs under a timeout; a failed or timed-out attempt is retried
  with full-jitter backoff up to ``retries`` times, off the concurrency slots.
- ``shutdown`` cancels queued and running tasks and says how many it cancelled.

Finished task records are kept for ``status`` up to ``keep_finished`` (oldest
dropped first), so a long run does not leak them.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import heapq
import itertools
import logging
import random
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from .errors import QueueFullError, TaskManagerClosedError
from .retry import RetryPolicy, backoff_delays

__all__ = ["Priority", "QueueFullError", "TaskManager", "TaskManagerClosedError"]

CoroFactory = Callable[[], Awaitable[Any]]
_MEMORY_POLL_S = 0.1
_log = logging.getLogger(__name__)


class Priority(enum.IntEnum):
    """Lower runs first."""

    CRITICAL = 0
    HIGH = 1
    NORMAL = 2
    LOW = 3
    IDLE = 4


@dataclass(slots=True)
class _Task:
    id: str
    name: str
    priority: Priority
    factory: CoroFactory
    timeout_s: float
    submitted_at: float
    state: str = "queued"  # queued|running|retrying|completed|failed|timed_out|cancelled
    attempts: int = 0
    started_at: float | None = None
    finished_at: float | None = None
    result: Any = None
    error: str | None = None
    delays: Any = None
    handle: asyncio.TimerHandle | None = field(default=None, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "priority": self.priority.name.lower(),
                "state": self.state, "attempts": self.attempts,
                "submitted_at": self.submitted_at, "started_at": self.started_at,
                "finished_at": self.finished_at, "result": self.result, "error": self.error}


def _rss_bytes() -> int:
    import psutil

    return int(psutil.Process().memory_info().rss)


class TaskManager:
    """The process' background task runner (see the module docstring)."""

    def __init__(
        self,
        max_queue: int = 1000,
        concurrency: int = 4,
        memory_budget_bytes: int | None = None,
        default_timeout_s: float = 30.0,
        retries: int = 2,
        *,
        retry_policy: RetryPolicy | None = None,
        memory_reader: Callable[[], int] | None = None,
        keep_finished: int = 10_000,
        on_error: Callable[[str, BaseException], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        if max_queue < 1 or concurrency < 1 or retries < 0 or default_timeout_s <= 0:
            raise ValueError(
                f"TaskManager needs max_queue >= 1, concurrency >= 1, retries >= 0, "
                f"default_timeout_s > 0; got {max_queue}, {concurrency}, {retries}, "
                f"{default_timeout_s}")
        self.max_queue = max_queue
        self.concurrency = concurrency
        self.memory_budget_bytes = memory_budget_bytes
        self.default_timeout_s = default_timeout_s
        self.retries = retries
        self._policy = retry_policy or RetryPolicy(max_attempts=retries + 1, base_s=0.1, cap_s=2.0)
        self._memory_reader = memory_reader or _rss_bytes
        self._keep_finished = keep_finished
        self._on_error = on_error
        self._clock = clock
        self._rng = rng or random.Random()
        self._ids = itertools.count(1)
        self._seq = itertools.count()
        self._heap: list[tuple[int, int, _Task]] = []
        self._tasks: dict[str, _Task] = {}
        self._finished: OrderedDict[str, _Task] = OrderedDict()
        self._running: dict[str, asyncio.Task[None]] = {}
        self._retrying: dict[str, _Task] = {}
        self._wakeup: asyncio.Event | None = None
        self._dispatcher: asyncio.Task[None] | None = None
        self._allow_while_suspended: Priority | None = None
        self._suspended = False
        self._closed = False
        self._counts = {"submitted": 0, "rejected": 0, "completed": 0, "failed": 0,
                        "timed_out": 0, "cancelled": 0, "retried": 0}
        self._by_name: dict[str, dict[str, int]] = {}
        self._duration_total_s = 0.0

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Start dispatching (tasks submitted before this wait in the queue)."""
        if self._dispatcher is not None:
            return
        self._wakeup = asyncio.Event()
        self._dispatcher = asyncio.get_running_loop().create_task(
            self._dispatch_loop(), name="task-manager-dispatcher")

    async def shutdown(self, timeout_s: float = 5.0) -> int:
        """Refuse new tasks, cancel queued, retrying and running ones; return how many.

        Running tasks get ``timeout_s`` in all to finish their cancellation.
        """
        self._closed = True
        cancelled = 0
        for _, _, task in self._heap:
            self._finish(task, "cancelled", error="cancelled at shutdown")
            cancelled += 1
        self._heap.clear()
        for task in list(self._retrying.values()):
            if task.handle is not None:
                task.handle.cancel()
            self._finish(task, "cancelled", error="cancelled at shutdown")
            cancelled += 1
        self._retrying.clear()
        running = list(self._running.values())
        for runner in running:
            runner.cancel()
        cancelled += len(running)
        if self._dispatcher is not None:
            self._dispatcher.cancel()
            running.append(self._dispatcher)
        if running:
            await asyncio.wait(running, timeout=timeout_s)
        for task_id in list(self._running):
            # a runner cancelled before its first step never ran _run's cleanup
            self._running.pop(task_id)
            leftover = self._tasks.get(task_id)
            if leftover is not None:
                self._finish(leftover, "cancelled", error="cancelled at shutdown")
        return cancelled

    # -- submission and status -----------------------------------------------------------

    def submit(self, name: str, coro_factory: CoroFactory, priority: Priority = Priority.NORMAL,
               timeout_s: float | None = None) -> str:
        """Queue ``coro_factory()`` (called once per attempt); return the task id."""
        if self._closed:
            raise TaskManagerClosedError(f"task manager is shut down: {name!r} not accepted")
        if len(self._heap) >= self.max_queue:
            self._counts["rejected"] += 1
            self._name_counts(name)["rejected"] += 1
            raise QueueFullError(self.max_queue, self._retry_after_estimate())
        task = _Task(id=f"t{next(self._ids)}", name=name, priority=Priority(priority),
                     factory=coro_factory, timeout_s=timeout_s or self.default_timeout_s,
                     submitted_at=self._clock())
        task.delays = backoff_delays(self._policy, self._rng)
        self._tasks[task.id] = task
        self._counts["submitted"] += 1
        self._name_counts(name)["submitted"] += 1
        self._push(task)
        return task.id

    def status(self, task_id: str) -> dict[str, Any] | None:
        """The task's record (state, attempts, times, result, error), or None if unknown."""
        task = self._tasks.get(task_id) or self._finished.get(task_id)
        return task.as_dict() if task is not None else None

    def _push(self, task: _Task) -> None:
        task.state = "queued"
        heapq.heappush(self._heap, (int(task.priority), next(self._seq), task))
        self._wake()

    def _wake(self) -> None:
        if self._wakeup is not None:
            self._wakeup.set()

    def _retry_after_estimate(self) -> float:
        done = self._counts["completed"] + self._counts["failed"] + self._counts["timed_out"]
        mean = self._duration_total_s / done if done else 1.0
        return min(30.0, max(1.0, mean * len(self._heap) / self.concurrency))

    def _name_counts(self, name: str) -> dict[str, int]:
        counts = self._by_name.get(name)
        if counts is None:
            counts = dict.fromkeys(("submitted", "rejected", "completed", "failed",
                                    "timed_out", "cancelled", "retried"), 0)
            self._by_name[name] = counts
        return counts

    # -- suspension ----------------------------------------------------------------------

    def suspend(self, allow: Priority | None = None) -> None:
        """Stop starting tasks (running ones go on); ``allow``: priorities up to it still start."""
        self._suspended = True
        self._allow_while_suspended = allow

    def resume(self) -> None:
        """Start tasks again."""
        self._suspended = False
        self._allow_while_suspended = None
        self._wake()

    @property
    def suspended(self) -> bool:
        return self._suspended

    def on_memory_pressure(self, level: str) -> None:
        """Memory monitor hook: critical -> only CRITICAL runs, warning -> LOW/IDLE wait, ok -> resume."""
        if level == "critical":
            self.suspend(allow=Priority.CRITICAL)
        elif level == "warning":
            self.suspend(allow=Priority.NORMAL)
        else:
            self.resume()

    # -- dispatch ------------------------------------------------------------------------

    def _may_start(self, priority: int) -> bool:
        if len(self._running) >= self.concurrency:
            return False
        if self._suspended:
            allow = self._allow_while_suspended
            return allow is not None and priority <= allow
        return True

    def _over_memory_budget(self) -> bool:
        if self.memory_budget_bytes is None:
            return False
        try:
            return self._memory_reader() > self.memory_budget_bytes
        except Exception:  # a broken reader must not stop dispatch for good
            _log.exception("task manager: memory reader failed; ignoring the budget once")
            return False

    async def _dispatch_loop(self) -> None:
        assert self._wakeup is not None
        loop = asyncio.get_running_loop()
        while True:
            self._wakeup.clear()
            blocked_by_memory = False
            while self._heap and self._may_start(self._heap[0][0]):
                if self._over_memory_budget():
                    blocked_by_memory = True
                    break
                _, _, task = heapq.heappop(self._heap)
                self._running[task.id] = loop.create_task(self._run(task), name=f"task:{task.name}")
            if blocked_by_memory:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), _MEMORY_POLL_S)
            else:
                await self._wakeup.wait()

    async def _run(self, task: _Task) -> None:
        task.state = "running"
        task.attempts += 1
        started = self._clock()
        task.started_at = task.started_at or started
        outcome: str = "completed"
        error: str | None = None
        exc: BaseException | None = None
        try:
            async with asyncio.timeout(task.timeout_s):
                task.result = await task.factory()
        except TimeoutError as e:
            outcome, error, exc = "timed_out", f"timed out after {task.timeout_s}s", e
        except asyncio.CancelledError:
            self._running.pop(task.id, None)
            self._finish(task, "cancelled", error="cancelled")
            raise
        except Exception as e:
            outcome, error, exc = "failed", f"{type(e).__name__}: {e}", e
        finally:
            self._duration_total_s += self._clock() - started
        self._running.pop(task.id, None)
        self._wake()
        if exc is not None and self._schedule_retry(task, error):
            return
        if exc is not None and self._on_error is not None:
            self._on_error(task.name, exc)
        self._finish(task, outcome, error=error)

    def _schedule_retry(self, task: _Task, error: str | None) -> bool:
        delay = next(task.delays, None)
        if delay is None or self._closed:
            return False
        task.state, task.error = "retrying", error
        self._counts["retried"] += 1
        self._name_counts(task.name)["retried"] += 1
        self._retrying[task.id] = task

        def requeue() -> None:
            self._retrying.pop(task.id, None)
            task.handle = None
            if not self._closed:
                self._push(task)

        task.handle = asyncio.get_running_loop().call_later(delay, requeue)
        return True

    def _finish(self, task: _Task, outcome: str, error: str | None = None) -> None:
        task.state = outcome
        task.error = error
        task.finished_at = self._clock()
        task.factory = _finished_factory  # drop references held by the closure
        self._counts[outcome] += 1
        self._name_counts(task.name)[outcome] += 1
        self._tasks.pop(task.id, None)
        self._finished[task.id] = task
        while len(self._finished) > self._keep_finished:
            self._finished.popitem(last=False)

    # -- metrics -------------------------------------------------------------------------

    def metrics(self) -> dict[str, Any]:
        """Queue depth, running, limits, suspension, lifetime counters and per-name counters."""
        return {
            "queued": len(self._heap),
            "running": len(self._running),
            "retrying": len(self._retrying),
            "max_queue": self.max_queue,
            "concurrency": self.concurrency,
            "suspended": self._suspended,
            **self._counts,
            "by_name": {name: dict(counts) for name, counts in sorted(self._by_name.items())},
        }


async def _finished_factory() -> None:
    raise RuntimeError("task already finished")
