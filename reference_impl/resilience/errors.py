"""Exceptions raised by the resilience stack.

Each names the thing that refused and carries what a caller needs to answer well
(for instance the ``Retry-After`` figure of a 503)::

    ResilienceError
    ├── CircuitOpenError        a breaker rejected the call (name, retry_after_s)
    ├── QueueFullError          the task queue is at its bound (max_queue, retry_after_s)
    ├── TaskManagerClosedError  a task was submitted after shutdown began
    └── StartupError            a critical service could not start (service, cause)
"""

from __future__ import annotations

__all__ = [
    "CircuitOpenError",
    "QueueFullError",
    "ResilienceError",
    "StartupError",
    "TaskManagerClosedError",
]


class ResilienceError(Exception):
    """Root of the errors the resilience stack raises on purpose."""


class CircuitOpenError(ResilienceError):
    """A circuit breaker refused a call: the dependency is considered down.

    ``retry_after_s`` is how long until the breaker admits probes again; an HTTP
    layer answers 503 with ``Retry-After: ceil(retry_after_s)``.
    """

    def __init__(self, name: str, retry_after_s: float) -> None:
        self.name = name
        self.retry_after_s = max(0.0, retry_after_s)
        super().__init__(f"circuit {name!r} is open: retry after {self.retry_after_s:.2f}s")


class QueueFullError(ResilienceError):
    """The task queue holds ``max_queue`` tasks already; the submission was rejected."""

    def __init__(self, max_queue: int, retry_after_s: float) -> None:
        self.max_queue = max_queue
        self.retry_after_s = max(0.0, retry_after_s)
        super().__init__(
            f"task queue is full ({max_queue} queued): retry after {self.retry_after_s:.2f}s"
        )


class TaskManagerClosedError(ResilienceError):
    """A task was submitted to a task manager that is shutting down or shut down."""


class StartupError(ResilienceError):
    """A critical service did not start (or the graph itself is invalid).

    ``service`` names it (``None`` for a graph-level problem such as a cycle);
    ``cause`` is the last exception its start raised, if any.
    """

    def __init__(self, message: str, service: str | None = None,
                 cause: BaseException | None = None) -> None:
        self.service = service
        self.cause = cause
        super().__init__(message)
