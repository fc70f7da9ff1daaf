"""Stop requests: what Ctrl-C and SIGTERM mean to a run and to a suite.

The signal handlers only record. The first SIGINT/SIGTERM sets :attr:`StopRequest.event`:
the run winds down cleanly (faults rolled back, load stopped, the run directory left
consistent and marked ``incomplete``) and a suite starts no further scenario. A second
one forces: it raises :class:`KeyboardInterrupt` in the main thread, except inside
:meth:`StopRequest.shielded` (the fault rollback), where it is deferred until the block
ends, so a forced stop never leaves a fault applied. The shield is bounded: a signal
that arrives after its deadline raises at once.

Stdlib only, so the conductor and the suite runner share one object without an import
circle.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

__all__ = ["StopRequest"]

_Handler = Callable[[int, FrameType | None], Any] | int | None


class StopRequest:
    """Signal handlers only record: the first SIGINT/SIGTERM asks the run to stop, a second forces."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.count = 0
        self.signal_name: str | None = None  # the first signal received, for the records
        self._shield_until: float | None = None
        self._deferred: str | None = None

    @property
    def forced(self) -> bool:
        """A second signal came: the stop is forced (shortened waits, no cooldown)."""
        return self.count > 1

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        self.count += 1
        self.signal_name = self.signal_name or name
        self.event.set()
        if self.count <= 1:
            return
        until = self._shield_until
        if until is not None and time.monotonic() < until:
            self._deferred = name  # raised when the shielded block ends
            return
        raise KeyboardInterrupt(f"second {name}: forcing the stop")

    @contextlib.contextmanager
    def installed(self) -> Iterator[StopRequest]:
        """Handle SIGINT and SIGTERM with this object inside the block (main thread only); the
        handlers in place before are restored after it, so installations nest."""
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous: dict[int, _Handler] = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, self._handle)
        try:
            yield self
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)

    @contextlib.contextmanager
    def shielded(self, bound_s: float) -> Iterator[None]:
        """Defer a forcing signal until the block ends (at most ``bound_s`` seconds; one that
        arrives later raises at once). A deferred one raises :class:`KeyboardInterrupt` when
        the block ends normally; when the block raises, its own exception goes on."""
        outer = self._shield_until
        self._shield_until = time.monotonic() + bound_s
        pending: str | None = None
        try:
            yield
        finally:
            self._shield_until = outer
            if outer is None:
                pending, self._deferred = self._deferred, None
        if pending is not None:
            raise KeyboardInterrupt(f"second {pending}: forcing the stop")
