"""The queue between two stages of a toxic chain.

A :class:`Channel` carries :class:`Chunk` objects (one socket read each, stamped
when it arrived) and ``None`` for end of stream. It differs from
:class:`asyncio.Queue` in the two ways the chain needs:

* ``put`` never blocks and never refuses: the item is appended first, and a
  producer that honours backpressure then awaits :meth:`Channel.wait_space`.
  So interrupting a stage (cancelling its task) at any ``await`` can never lose
  a chunk it already handed on, and removing a toxic can splice a whole channel
  into the next one in order.
* the limit is in bytes, and a callback fires when a full channel drains to half,
  which is how the source socket is paused and resumed.

A channel has one consumer at a time (the stage reading it).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

__all__ = ["DEFAULT_LIMIT_BYTES", "Channel", "Chunk"]

DEFAULT_LIMIT_BYTES = 1 << 20


@dataclass(slots=True)
class Chunk:
    """Bytes from one socket read and the loop time they are due (arrival, moved on by latency)."""

    data: bytes
    stamp: float


class Channel:
    """FIFO of chunks (``None`` = EOF) with a byte limit for backpressure; see the module doc."""

    def __init__(
        self,
        limit_bytes: int = DEFAULT_LIMIT_BYTES,
        on_low: Callable[[], None] | None = None,
    ) -> None:
        self.limit_bytes = limit_bytes
        self.on_low = on_low
        self._items: deque[Chunk | None] = deque()
        self._bytes = 0
        self._getter: asyncio.Future[None] | None = None
        self._space_waiters: list[asyncio.Future[None]] = []
        self._over = False

    def __len__(self) -> int:
        return len(self._items)

    @property
    def nbytes(self) -> int:
        """Bytes of chunk data waiting in the channel."""
        return self._bytes

    def full(self) -> bool:
        """True while the waiting bytes reach the limit (producers should pause)."""
        return self._bytes >= self.limit_bytes

    def put(self, item: Chunk | None) -> None:
        """Append ``item`` (never blocks, never drops) and wake the consumer."""
        self._items.append(item)
        if item is not None:
            self._bytes += len(item.data)
            if self._bytes >= self.limit_bytes:
                self._over = True
        getter = self._getter
        if getter is not None and not getter.done():
            getter.set_result(None)

    def unget(self, item: Chunk | None) -> None:
        """Put ``item`` back at the front: a stage interrupted while holding it returns it."""
        self._items.appendleft(item)
        if item is not None:
            self._bytes += len(item.data)

    def extend(self, items: Iterable[Chunk | None]) -> None:
        """Append several items in order."""
        for item in items:
            self.put(item)

    def take_all(self) -> list[Chunk | None]:
        """Remove and return everything waiting, oldest first."""
        items = list(self._items)
        self._items.clear()
        self._bytes = 0
        self._after_take()
        return items

    async def get(self, timeout: float | None = None) -> Chunk | None:
        """Wait for and remove the oldest item; ``TimeoutError`` after ``timeout`` seconds.

        Cancellation-safe: an item is only removed after the wait has finished, so
        a cancelled (or timed out) ``get`` leaves the channel as it was.
        """
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while not self._items:
            timer = None
            if deadline is not None:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise TimeoutError
            fut: asyncio.Future[None] = loop.create_future()
            if deadline is not None:
                timer = loop.call_later(remaining, _wake, fut)
            self._getter = fut
            try:
                await fut
            finally:
                self._getter = None
                if timer is not None:
                    timer.cancel()
        item = self._items.popleft()
        if item is not None:
            self._bytes -= len(item.data)
        self._after_take()
        return item

    async def wait_space(self) -> None:
        """Wait until the channel is below its byte limit (cancellation-safe: nothing is lost)."""
        while self._bytes >= self.limit_bytes:
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._space_waiters.append(fut)
            try:
                await fut
            finally:
                if fut in self._space_waiters:
                    self._space_waiters.remove(fut)

    def _after_take(self) -> None:
        if self._bytes < self.limit_bytes:
            waiters, self._space_waiters = self._space_waiters, []
            for fut in waiters:
                if not fut.done():
                    fut.set_result(None)
        if self._over and self._bytes <= self.limit_bytes // 2:
            self._over = False
            if self.on_low is not None:
                self.on_low()


def _wake(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)
