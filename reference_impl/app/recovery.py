"""Notice the database going away and coming back, faster than the breaker alone can.

The breaker judges a 10 s window: after a busy, healthy period it needs a
while of failures before it opens, and once OPEN it waits 5 s (doubling to
30 s) before it probes. Both are right for a sick database and too slow for
one that restarts in a second. ``RecoveryProber`` adds two fast signals:

- a request that finds the database unreachable (``DatabaseUnavailable``
  reason ``unreachable``) marks it *suspect* at once: readiness answers 503
  from that moment instead of after the breaker's window fills;
- while the database is suspect or the breaker is OPEN, it opens a fresh
  connection of its own (outside the pool, one at a time, bounded by a short
  timeout) every ``interval_s`` and runs ``select 1``. The first success
  clears the suspicion and resets an open breaker, so writes resume within
  about one probe interval of Postgres accepting connections.

One cheap probe every 200 ms is far below the load the breaker protects against.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

import asyncpg

from reference_impl.resilience import BreakerState, CircuitBreaker

__all__ = ["RecoveryProber", "connect_probe"]

log = logging.getLogger("reference_impl.recovery")


async def connect_probe(dsn: str, timeout_s: float) -> None:
    """Connect, ``select 1``, close, all within ``timeout_s``; raise on any failure but one:
    a server that refuses the connection because it is full (53300) answered, so it is
    reachable (the pool serves on the connections it has). Counted as a failure, a server
    kept full after a restart left readiness 503 for as long as it stayed full."""
    async with asyncio.timeout(timeout_s):
        try:
            conn = await asyncpg.connect(dsn, timeout=timeout_s)
        except asyncpg.TooManyConnectionsError:
            return
        try:
            await conn.fetchval("select 1")
        finally:
            await conn.close(timeout=timeout_s)


class RecoveryProber:
    """Tracks whether the database looks unreachable and probes it back (module docstring)."""

    def __init__(
        self, breaker: CircuitBreaker, dsn: str, *, interval_s: float = 0.2,
        timeout_s: float = 0.5,
        probe: Callable[[str, float], Awaitable[None]] = connect_probe,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.breaker = breaker
        self.dsn = dsn
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self.suspect_since: float | None = None
        self.early_resets = 0
        self.probes = 0
        self._probe = probe
        self._clock = clock
        self._task: asyncio.Task[None] | None = None
        breaker.on_state_change(self._on_change)

    @property
    def suspect(self) -> bool:
        """True from an "unreachable" failure until a probe succeeds."""
        return self.suspect_since is not None

    def report_unreachable(self) -> None:
        """A request found the database unreachable: not ready until a probe says otherwise."""
        if self.suspect_since is None:
            self.suspect_since = self._clock()
            log.warning("database unreachable: readiness 503 until a probe succeeds")
        self._ensure_running()

    def _on_change(self, name: str, old: BreakerState, new: BreakerState) -> None:
        if new is BreakerState.OPEN:
            self._ensure_running()

    def _needed(self) -> bool:
        return self.suspect or self.breaker.state is BreakerState.OPEN

    def _ensure_running(self) -> None:
        if self._task is not None and not self._task.done():
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._task = loop.create_task(self._run(), name="database-recovery-probe")

    async def _run(self) -> None:
        while self._needed():
            await asyncio.sleep(self.interval_s)
            self.probes += 1
            try:
                await self._probe(self.dsn, self.timeout_s)
            except Exception as exc:  # still down: try again next interval
                log.debug("database still unreachable: %s: %s", type(exc).__name__, exc)
                continue
            self._recovered()
            return

    def _recovered(self) -> None:
        if self.suspect_since is not None:
            log.info("database reachable again after %.2fs", self._clock() - self.suspect_since)
        self.suspect_since = None
        if self.breaker.state is BreakerState.OPEN:
            self.early_resets += 1
            log.info("closing the %s breaker early: the database answers", self.breaker.name)
            self.breaker.reset()

    async def stop(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            await asyncio.wait([self._task], timeout=1.0)
