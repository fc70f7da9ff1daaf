"""Admission: how many requests are in flight, and the concurrency gate that sheds the rest.

``ConcurrencyGate`` serves ``limit`` requests at once and lets ``queue`` more
wait in line (FIFO); beyond that a request is refused at once: shed rather
than queue. A free slot is taken without awaiting anything (the common case
costs two comparisons); a finishing request hands its slot straight to the
first waiter, so a slot in hand-over is never mistaken for a full gate.
"""

from __future__ import annotations

import asyncio
from collections import deque

__all__ = ["ConcurrencyGate", "InFlight"]


class InFlight:
    """How many requests are being served; ``wait_idle`` returns when none are."""

    def __init__(self) -> None:
        self.count = 0
        self._idle_waiters: list[asyncio.Future[None]] = []

    def enter(self) -> None:
        self.count += 1

    def leave(self) -> None:
        self.count -= 1
        if self.count <= 0:
            self.count = 0
            for waiter in self._idle_waiters:
                if not waiter.done():
                    waiter.set_result(None)

    async def wait_idle(self, timeout_s: float) -> bool:
        """True when no request is in flight within ``timeout_s``."""
        if self.count <= 0:
            return True
        waiter = asyncio.get_running_loop().create_future()
        self._idle_waiters.append(waiter)
        try:
            async with asyncio.timeout(timeout_s):
                await waiter
        except TimeoutError:
            return False
        finally:
            self._idle_waiters.remove(waiter)
        return True


class ConcurrencyGate:
    """At most ``limit`` requests at once, at most ``queue`` waiting; the rest are refused."""

    def __init__(self, limit: int, queue: int) -> None:
        self.limit = limit
        self.queue = queue
        self.active = 0
        self.rejected = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    @property
    def inside(self) -> int:
        """Requests in the gate: served or waiting."""
        return self.active + len(self._waiters)

    def try_enter(self) -> bool:
        """Take a free slot now, when there is one and nobody is in line for it."""
        if self.active < self.limit and not self._waiters:
            self.active += 1
            return True
        return False

    async def enter(self, timeout_s: float | None) -> bool:
        """A slot, waiting in line at most ``timeout_s`` (``None``: until cancelled).

        False (counted in ``rejected``) when the line is full or the wait times out.
        Cancelled while waiting, the request leaves the line (or passes on a slot
        handed to it at that moment) and the cancellation propagates.
        """
        if self.try_enter():
            return True
        if len(self._waiters) >= self.queue:
            self.rejected += 1
            return False
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            if timeout_s is None:
                await waiter
            else:
                async with asyncio.timeout(timeout_s):
                    await waiter
        except TimeoutError:
            self._give_up(waiter)
            self.rejected += 1
            return False
        except BaseException:
            self._give_up(waiter)
            raise
        return True  # leave() handed its slot over: ``active`` already counts this request

    def leave(self) -> None:
        """Free a slot: to the first request still waiting, else back to the gate."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():  # a cancelled waiter is skipped
                waiter.set_result(None)
                return
        self.active -= 1

    def _give_up(self, waiter: asyncio.Future[None]) -> None:
        try:
            self._waiters.remove(waiter)
        except ValueError:  # already taken from the line by leave()
            if not waiter.cancelled():
                self.leave()  # a slot was handed over as we gave up: pass it on

    def stats(self) -> dict[str, int]:
        return {"limit": self.limit, "queue": self.queue, "active": self.active,
                "waiting": self.waiting, "rejected": self.rejected}
