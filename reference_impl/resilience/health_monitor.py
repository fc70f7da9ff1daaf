"""Probe a dependency in the background so readiness follows it even with no traffic.

Without traffic nothing fails, so neither the breaker nor the recovery prober
(both fed by requests) can notice a database that went away: readiness stayed
200 for as long as nobody asked. :class:`HealthMonitor` starts one cheap probe
every ``interval_s`` (a fixed cadence; each bounded by ``timeout_s``) and keeps
a verdict:

- ``failure_threshold`` consecutive failures (default 2) mark it *down*: one
  failed probe is a blip, two in a row is an outage. With the app's defaults
  (0.5 s, 0.8 s timeout) a stopped server, whose refusal is immediate, is
  noticed within about 1 s, a frozen one within about 2 s (two timeouts);
- one success marks it *up* again (the probe just proved it answers);
- a probe that raises :class:`ProbeInconclusive` says nothing either way: it
  neither counts as a failure nor resets the count.

It starts *up*: it is started once the startup sequence has proved the
dependency works. Costs: one probe per interval, nothing per request.

How the reference app wires it (``backend_resilient``), and why
----------------------------------------------------------------

*A pooled connection, not a dedicated one.* The probe is ``select 1`` on a
connection of the app's own pool (``DatabaseManager.probe``), taken only when a
slot is free at that instant:

- a dedicated connection would be one more backend than ``pool.max``: the
  harness judges connection leaks against ``pool.max`` (a full idle pool is no
  leak), so a permanently held extra connection would read as a leak, and it
  would need its own reconnect logic besides the pool's;
- it is never starved into a false "down": when every slot is in use or
  waited for, the probe is skipped at once (inconclusive; the requests holding
  the pool are themselves the health signal, judged by the breaker), so a full
  pool never makes readiness go 503 on its own;
- it never holds a slot hostage: it does not queue for one, and holds one for
  a ``select 1`` bounded by ``timeout_s``; a connection whose probe failed is
  discarded (a frozen server would hang its reset), as the manager does;
- asyncpg's pool hands out a live idle connection first, so a healthy database
  costs no reconnects; once Postgres went away the pooled connections are
  closed and the probe's acquire must connect, which is exactly the question.
  A server that refuses a connection with ``too_many_connections`` (53300) is
  alive and answering: a success, not down (the app still serves on the
  connections it has; the pool-exhaustion fault is about shedding, not about
  readiness). Not merely inconclusive: after a restart had marked it down, a
  full server would otherwise keep readiness down for as long as it stays full.

*Not through the breaker, and not feeding it.* The probe bypasses breaker
admission (an open breaker must not blind the monitor, and probes must not use
up the half-open trial calls) and records nothing in the breaker's window: the
breaker judges real traffic. Probe successes would dilute the failure rate a
sick database shows to low traffic, and with no traffic two probes a second
would fill ``min_calls`` and open the breaker on their own, after which
recovery would wait for its open timer. Readiness is the one thing the monitor
changes: 503 + Retry-After while it says down. Requests that still arrive try
the database themselves (fast to fail on a refused connection, bounded
otherwise) and open the breaker as before; when the database is back they
succeed at once instead of waiting for a breaker the monitor had opened. The
probes are not counted in the query metrics either (the benchmarks read them).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["HealthMonitor", "ProbeInconclusive"]

_log = logging.getLogger(__name__)
StateListener = Callable[[bool], None]


class ProbeInconclusive(Exception):  # noqa: N818 - an outcome, not an error
    """The probe could not run for a reason that says nothing about the dependency."""


class HealthMonitor:
    """Periodic probe with a down/up verdict (see the module docstring).

    ``probe`` is awaited once per interval within ``timeout_s``: returning means
    healthy, :class:`ProbeInconclusive` means no information, any other exception
    (the timeout included) is a failure. ``sleep`` and ``clock`` are injectable.
    """

    def __init__(
        self,
        name: str,
        probe: Callable[[], Awaitable[object]],
        *,
        interval_s: float = 0.5,
        timeout_s: float = 0.5,
        failure_threshold: int = 2,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        if not interval_s > 0 or not timeout_s > 0 or failure_threshold < 1:
            raise ValueError(f"HealthMonitor needs interval_s > 0, timeout_s > 0 and "
                             f"failure_threshold >= 1, got {interval_s}, {timeout_s}, "
                             f"{failure_threshold}")
        self.name = name
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self.failure_threshold = failure_threshold
        self._probe = probe
        self._clock = clock
        self._sleep = sleep
        self._listeners: list[StateListener] = []
        self._task: asyncio.Task[None] | None = None
        self.up = True
        self.consecutive_failures = 0
        self.last_ok: float | None = None
        self.down_since: float | None = None
        self.last_error: str | None = None
        self.last_inconclusive: str | None = None
        self.probes = 0
        self.failures = 0
        self.inconclusive = 0
        self.transitions = 0

    # -- verdict -------------------------------------------------------------------------

    def on_change(self, callback: StateListener) -> None:
        """Call ``callback(up)`` on every change of the verdict."""
        self._listeners.append(callback)

    def record_success(self) -> None:
        self.last_ok = self._clock()
        self.consecutive_failures = 0
        if not self.up:
            _log.info("%s is up again after %.2fs", self.name,
                      self.last_ok - (self.down_since or self.last_ok))
            self._set(True)

    def record_failure(self, error: str) -> None:
        self.failures += 1
        self.consecutive_failures += 1
        self.last_error = error
        if self.up and self.consecutive_failures >= self.failure_threshold:
            _log.warning("%s is down: %d probes failed in a row (%s)", self.name,
                         self.consecutive_failures, error)
            self._set(False)

    def record_inconclusive(self, reason: str) -> None:
        self.inconclusive += 1
        self.last_inconclusive = reason

    def _set(self, up: bool) -> None:
        self.up = up
        self.down_since = None if up else self._clock()
        self.transitions += 1
        for listener in list(self._listeners):
            try:
                listener(up)
            except Exception:  # a broken listener must not stop the monitor
                _log.exception("%s monitor: listener %r failed", self.name, listener)

    async def probe_once(self) -> None:
        """Run one probe within ``timeout_s`` and record its outcome."""
        self.probes += 1
        try:
            async with asyncio.timeout(self.timeout_s):
                await self._probe()
        except ProbeInconclusive as exc:
            self.record_inconclusive(str(exc) or type(exc).__name__)
        except Exception as exc:
            detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            if isinstance(exc, TimeoutError):
                detail = f"no answer within {self.timeout_s:g}s"
            self.record_failure(detail)
        else:
            self.record_success()

    # -- lifecycle -----------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        """Start probing (the first probe at once); a second call does nothing."""
        if self.running:
            return
        self._task = asyncio.get_running_loop().create_task(self._run(),
                                                            name=f"{self.name}-health-monitor")

    async def _run(self) -> None:
        while True:
            started = self._clock()
            try:
                await self.probe_once()
            except Exception:  # a bug here must not end the monitor silently
                _log.exception("%s monitor: probe bookkeeping failed", self.name)
            # A fixed cadence: a probe that ran into its timeout delays the next one no more.
            await self._sleep(max(0.0, self.interval_s - (self._clock() - started)))

    async def stop(self, timeout_s: float = 1.0) -> None:
        """Cancel the loop (a probe in flight included) and wait for it, within ``timeout_s``."""
        task, self._task = self._task, None
        if task is None or task.done():
            return
        task.cancel()
        await asyncio.wait([task], timeout=timeout_s)

    def snapshot(self) -> dict[str, Any]:
        """The verdict and its evidence, as JSON."""
        now = self._clock()
        return {
            "up": self.up,
            "last_ok_s_ago": None if self.last_ok is None else round(now - self.last_ok, 3),
            "consecutive_failures": self.consecutive_failures,
            "down_for_s": None if self.down_since is None else round(now - self.down_since, 3),
            "last_error": self.last_error,
            "last_inconclusive": self.last_inconclusive,
            "probes": self.probes,
            "failures": self.failures,
            "inconclusive": self.inconclusive,
            "transitions": self.transitions,
            "interval_s": self.interval_s,
            "failure_threshold": self.failure_threshold,
            "running": self.running,
        }
