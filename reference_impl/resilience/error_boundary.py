"""Catch, classify, count and log every error nobody else handled, and keep the process up.

``install()`` hooks the four places an unhandled error can surface in a Python
service: the asyncio loop's exception handler (a task that failed and was never
awaited, a failing callback), ``sys.excepthook``, ``threading.excepthook`` and
``sys.unraisablehook``.  ``uninstall()`` puts the previous hooks back.

Each recorded error is classified (``database``, ``network``, ``memory``,
``validation``, ``schema``, ``timeout``, ``unknown``) with a severity, counted,
kept in a ring buffer for ``/api/monitoring/errors``, handed to the recovery
handler registered for its class, and written as ONE JSON line on the stream
(stderr)::

    {"event": "unhandled_error", "class": "database", "severity": "error",
     "source": "task:plan-7", "type": "ValueError", "message": "...",
     "traceback": "Traceback (most recent call last):\\n ..."}

The harness counts these lines, so a recorded error never prints a raw
multi-line traceback.  ``spawn()`` starts a background task holding a strong
reference (the loop keeps only weak ones) whose failure is recorded.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import threading
import time
import traceback
from collections import Counter, deque
from collections.abc import Callable, Coroutine
from typing import Any, TextIO, TypeVar

from .errors import CircuitOpenError
from .sqlstate import classify_db_error

__all__ = ["ErrorBoundary", "RecoveryHandler"]

T = TypeVar("T")
RecoveryHandler = Callable[[BaseException, dict[str, Any]], None]

_MAX_TRACEBACK_CHARS = 8000
_MAX_MESSAGE_CHARS = 1000
_RATE_WINDOW_S = 60.0
_log = logging.getLogger(__name__)


def _format_traceback(exc: BaseException) -> str:
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    if len(text) > _MAX_TRACEBACK_CHARS:
        text = "...(truncated)...\n" + text[-_MAX_TRACEBACK_CHARS:]
    return text


class ErrorBoundary:
    """The process' last line of defence for errors (see the module docstring)."""

    def __init__(self, ring_size: int = 200, stream: TextIO | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], float] = time.time) -> None:
        self._ring: deque[dict[str, Any]] = deque(maxlen=ring_size)
        self._stream = stream
        self._clock = clock
        self._wall = wall_clock
        self._recent_times: deque[float] = deque(maxlen=100_000)
        self._by_class: Counter[str] = Counter()
        self._by_type: Counter[str] = Counter()
        self._by_source: Counter[str] = Counter()
        self._by_severity: Counter[str] = Counter()
        self._total = 0
        self._recovery: dict[str, list[RecoveryHandler]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._lock = threading.RLock()
        self._saved: dict[str, Any] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- classification ------------------------------------------------------------------

    @staticmethod
    def classify(exc: BaseException) -> tuple[str, str]:
        """``(error_class, severity)``; severity is info, warning, error or critical."""
        if isinstance(exc, MemoryError):
            return "memory", "critical"
        if isinstance(exc, CircuitOpenError):
            return "database", "warning"
        kind = classify_db_error(exc)
        if kind.error_class == "cancelled":
            return "cancelled", "info"
        if kind.error_class != "unknown":
            return kind.error_class, "warning" if kind.retryable or kind.error_class == "timeout" \
                else "error"
        if isinstance(exc, (ValueError, UnicodeError)) or type(exc).__name__ == "ValidationError":
            return "validation", "warning"
        return "unknown", "error"

    def register_recovery(self, error_class: str, handler: RecoveryHandler) -> None:
        """Call ``handler(exc, entry)`` for each recorded error of ``error_class`` ('*': all)."""
        self._recovery.setdefault(error_class, []).append(handler)

    # -- recording -----------------------------------------------------------------------

    def record(self, exc: BaseException, source: str,
               context: dict[str, Any] | None = None) -> dict[str, Any]:
        """Classify, count, keep, log (one JSON line) and hand ``exc`` to recovery handlers."""
        error_class, severity = self.classify(exc)
        entry: dict[str, Any] = {
            "event": "unhandled_error", "class": error_class, "severity": severity,
            "source": source, "type": type(exc).__name__,
            "message": str(exc)[:_MAX_MESSAGE_CHARS], "traceback": _format_traceback(exc),
            "wall": self._wall(),
        }
        if context:
            entry["context"] = {k: _jsonable(v) for k, v in context.items()}
        with self._lock:
            self._total += 1
            self._by_class[error_class] += 1
            self._by_type[entry["type"]] += 1
            self._by_source[source.split(":", 1)[0]] += 1
            self._by_severity[severity] += 1
            self._recent_times.append(self._clock())
            self._ring.append(entry)
            self._write(entry)  # under the lock: lines from threads never interleave
        self._recover(exc, entry)
        return entry

    def _write(self, entry: dict[str, Any]) -> None:
        stream = self._stream if self._stream is not None else sys.stderr
        try:
            stream.write(json.dumps(entry, default=str) + "\n")
            stream.flush()
        except (OSError, ValueError):  # a closed stream must not turn one error into two
            pass

    def _recover(self, exc: BaseException, entry: dict[str, Any]) -> None:
        handlers = self._recovery.get(entry["class"], []) + self._recovery.get("*", [])
        for handler in handlers:
            try:
                handler(exc, entry)
            except Exception as failure:  # reported, never recursed into record()
                with self._lock:
                    self._write({"event": "recovery_failed", "class": entry["class"],
                                 "handler": getattr(handler, "__qualname__", repr(handler)),
                                 "type": type(failure).__name__, "message": str(failure)})

    # -- queries -------------------------------------------------------------------------

    def recent(self, limit: int = 50, type: str | None = None) -> list[dict[str, Any]]:
        """Newest first; ``type`` filters on the error class or the exception type name."""
        with self._lock:
            entries = list(self._ring)
        entries.reverse()
        if type:
            entries = [e for e in entries if type in (e["class"], e["type"])]
        return entries[:max(0, limit)]

    def counts(self) -> dict[str, Any]:
        """Totals by class, exception type, source kind and severity."""
        with self._lock:
            return {"total": self._total, "by_class": dict(self._by_class),
                    "by_type": dict(self._by_type), "by_source": dict(self._by_source),
                    "by_severity": dict(self._by_severity)}

    @property
    def total(self) -> int:
        return self._total

    def rate_per_minute(self) -> float:
        """Errors recorded in the last 60 s (saturates at 100k per minute)."""
        horizon = self._clock() - _RATE_WINDOW_S
        with self._lock:
            while self._recent_times and self._recent_times[0] < horizon:
                self._recent_times.popleft()
            return float(len(self._recent_times))

    # -- hooks ---------------------------------------------------------------------------

    def install(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Hook the loop (given, else the running one if any), sys and threading."""
        if self._saved is not None:
            raise RuntimeError("ErrorBoundary.install() called twice without uninstall()")
        if loop is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                loop = None
        self._saved = {"excepthook": sys.excepthook, "threading": threading.excepthook,
                       "unraisable": sys.unraisablehook}
        if loop is not None:
            self._saved["loop_handler"] = loop.get_exception_handler()
            loop.set_exception_handler(self._loop_handler)
        self._loop = loop
        sys.excepthook = self._sys_hook
        threading.excepthook = self._thread_hook
        sys.unraisablehook = self._unraisable_hook

    def uninstall(self) -> None:
        """Restore the hooks that were in place before ``install()``."""
        if self._saved is None:
            return
        sys.excepthook = self._saved["excepthook"]
        threading.excepthook = self._saved["threading"]
        sys.unraisablehook = self._saved["unraisable"]
        if self._loop is not None and not self._loop.is_closed():
            self._loop.set_exception_handler(self._saved.get("loop_handler"))
        self._saved = None
        self._loop = None

    def _loop_handler(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if exc is None:
            exc = RuntimeError(context.get("message", "asyncio error without exception"))
        task = context.get("task") or context.get("future")
        source = f"task:{task.get_name()}" if isinstance(task, asyncio.Task) else "asyncio"
        self.record(exc, source, {"message": context.get("message")})

    def _sys_hook(self, exc_type: type[BaseException], exc: BaseException, tb: Any) -> None:
        self.record(exc, "sys.excepthook")

    def _thread_hook(self, args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit or args.exc_value is None:
            return
        name = args.thread.name if args.thread is not None else "unknown"
        self.record(args.exc_value, f"thread:{name}")

    def _unraisable_hook(self, unraisable: Any) -> None:
        exc = unraisable.exc_value
        if exc is None:
            return
        self.record(exc, "unraisable", {"message": unraisable.err_msg,
                                        "object": repr(unraisable.object)[:200]})

    # -- background tasks ----------------------------------------------------------------

    def spawn(self, coro: Coroutine[Any, Any, T], name: str) -> asyncio.Task[T]:
        """Start ``coro`` as a task kept alive until done; a failure is recorded, not lost."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            self.record(exc, f"task:{task.get_name()}")

    @property
    def tasks_in_flight(self) -> int:
        return len(self._tasks)

    async def cancel_tasks(self, timeout_s: float = 5.0) -> int:
        """Cancel every spawned task still running; wait up to ``timeout_s``; return how many."""
        pending = [t for t in self._tasks if not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=timeout_s)
        return len(pending)


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return repr(value)[:500]
