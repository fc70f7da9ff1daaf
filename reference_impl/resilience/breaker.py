"""A circuit breaker with a sliding time window, and a registry of named breakers.

States (as in resilience4j)::

    CLOSED --(>= min_calls in window and failure rate or slow-call rate over threshold)--> OPEN
    OPEN --(open time elapsed; checked lazily on the next allow()/state read)--> HALF_OPEN
    HALF_OPEN --(the admitted probes decide: their failure/slow rate over threshold)--> OPEN
    HALF_OPEN --(otherwise, once every probe reported)--> CLOSED

The open time starts at ``open_s`` and doubles on each consecutive re-open up to
``max_open_s``; closing resets it.  The window is ``window_s`` long, kept as
``_BUCKETS`` fixed buckets so recording a call is O(1) and memory does not grow
with the call rate: a call stays counted for between ``window_s * (1 - 1/_BUCKETS)``
and ``window_s`` after it happened.

Only the caller knows which errors say "the dependency is unhealthy"; with
``call()`` that is ``is_failure`` (default: every ``Exception``), with the manual
``allow()``/``record_*()`` API the caller records what it decides.  An exception
that does not count frees its half-open probe slot and is not recorded.  Results
of calls admitted before the breaker opened are ignored once it is open or
half-open (only admitted probes decide).

Not thread-safe: one breaker belongs to one event loop.
"""

from __future__ import annotations

import enum
import inspect
import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from .errors import CircuitOpenError

__all__ = [
    "BreakerConfig",
    "BreakerRegistry",
    "BreakerState",
    "CircuitBreaker",
    "CircuitOpenError",
]

T = TypeVar("T")
StateListener = Callable[[str, "BreakerState", "BreakerState"], None]

_BUCKETS = 10
_HALF_OPEN_RETRY_AFTER_S = 1.0
_log = logging.getLogger(__name__)


class BreakerState(enum.Enum):
    """The three states; ``.value`` is what metrics and JSON show."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True)
class BreakerConfig:
    """Thresholds; defaults are CONVENTIONS.md "Resilience defaults"."""

    window_s: float = 10.0
    min_calls: int = 20
    failure_rate: float = 0.5
    slow_call_s: float = 0.25
    slow_rate: float = 0.8
    open_s: float = 5.0
    max_open_s: float = 30.0
    half_open_probes: int = 3

    def __post_init__(self) -> None:
        problems = []
        if self.window_s <= 0:
            problems.append(f"window_s must be > 0, got {self.window_s}")
        if self.min_calls < 1:
            problems.append(f"min_calls must be >= 1, got {self.min_calls}")
        for key in ("failure_rate", "slow_rate"):
            value = getattr(self, key)
            if not 0 < value <= 1:
                problems.append(f"{key} must be in (0, 1], got {value}")
        if self.open_s <= 0 or self.max_open_s < self.open_s:
            problems.append(f"need 0 < open_s <= max_open_s, got {self.open_s}, {self.max_open_s}")
        if self.half_open_probes < 1:
            problems.append(f"half_open_probes must be >= 1, got {self.half_open_probes}")
        if problems:
            raise ValueError("BreakerConfig: " + "; ".join(problems))


class _Window:
    """Call, failure and slow-call counts over the last ``window_s`` in fixed buckets."""

    __slots__ = ("_width", "_epochs", "_calls", "_fails", "_slow", "_epoch", "_slot",
                 "calls", "failures", "slow")

    def __init__(self, window_s: float) -> None:
        self._width = window_s / _BUCKETS
        self._epoch = self._slot = -1
        self._epochs = [-1] * _BUCKETS
        self._calls = [0] * _BUCKETS
        self._fails = [0] * _BUCKETS
        self._slow = [0] * _BUCKETS
        self.calls = self.failures = self.slow = 0

    def advance(self, now: float) -> int:
        """Drop buckets that fell out of the window; return the current bucket's slot."""
        epoch = int(now // self._width)
        if epoch == self._epoch:  # the common case: still in the current bucket
            return self._slot
        slot = epoch % _BUCKETS
        for i in range(_BUCKETS):
            if self._epochs[i] != -1 and epoch - self._epochs[i] >= _BUCKETS:
                self._evict(i)
        if self._epochs[slot] != epoch:
            self._evict(slot)
            self._epochs[slot] = epoch
        self._epoch, self._slot = epoch, slot
        return slot

    def _evict(self, i: int) -> None:
        self.calls -= self._calls[i]
        self.failures -= self._fails[i]
        self.slow -= self._slow[i]
        self._calls[i] = self._fails[i] = self._slow[i] = 0
        self._epochs[i] = -1

    def add(self, now: float, failed: bool, slow: bool) -> None:
        slot = self.advance(now)
        self._calls[slot] += 1
        self.calls += 1
        if failed:
            self._fails[slot] += 1
            self.failures += 1
        if slow:
            self._slow[slot] += 1
            self.slow += 1

    def clear(self) -> None:
        for i in range(_BUCKETS):
            self._evict(i)
        self._epoch = self._slot = -1


class CircuitBreaker:
    """One named breaker; cheap enough to wrap every database call (a few microseconds)."""

    def __init__(
        self,
        name: str,
        config: BreakerConfig | None = None,
        clock: Callable[[], float] = time.monotonic,
        *,
        is_failure: Callable[[BaseException], bool] | None = None,
    ) -> None:
        self.name = name
        self.config = config or BreakerConfig()
        self._clock = clock
        self._is_failure = is_failure or (lambda exc: isinstance(exc, Exception))
        self._listeners: list[StateListener] = []
        self._history: deque[dict[str, Any]] = deque(maxlen=20)
        self._window = _Window(self.config.window_s)
        self._state = BreakerState.CLOSED
        self._opened_at: float | None = None
        self._open_for = self.config.open_s
        self._consecutive_opens = 0
        self._probes_admitted = 0
        self._probe_calls = self._probe_failures = self._probe_slow = 0
        self._probe_started_at = 0.0
        self.transitions = 0
        self.rejected = 0

    # -- state ---------------------------------------------------------------------------

    @property
    def state(self) -> BreakerState:
        """The current state; an OPEN breaker whose time is up reads as HALF_OPEN."""
        self._refresh(self._clock())
        return self._state

    def _refresh(self, now: float) -> None:
        if self._state is BreakerState.OPEN and self._opened_at is not None:
            if now >= self._opened_at + self._open_for:
                self._transition(BreakerState.HALF_OPEN, now)

    def _transition(self, new: BreakerState, now: float) -> None:
        old = self._state
        if old is new:
            return
        self._state = new
        self.transitions += 1
        self._history.append({"from": old.value, "to": new.value, "at": now})
        if new is BreakerState.OPEN:
            self._opened_at = now
            self._open_for = min(self.config.open_s * 2 ** self._consecutive_opens,
                                 self.config.max_open_s)
            self._consecutive_opens += 1
        elif new is BreakerState.HALF_OPEN:
            self._probes_admitted = 0
            self._probe_calls = self._probe_failures = self._probe_slow = 0
            self._probe_started_at = now
        else:
            self._opened_at = None
            self._consecutive_opens = 0
            self._open_for = self.config.open_s
            self._window.clear()
        for listener in list(self._listeners):
            try:
                listener(self.name, old, new)
            except Exception:  # a broken listener must not break the breaker
                _log.exception("breaker %s: state listener %r failed", self.name, listener)

    def on_state_change(self, callback: StateListener) -> None:
        """Call ``callback(name, old_state, new_state)`` on every transition."""
        self._listeners.append(callback)

    def retry_after_s(self) -> float:
        """Seconds until the breaker admits calls again (0 when closed)."""
        now = self._clock()
        self._refresh(now)
        if self._state is BreakerState.OPEN and self._opened_at is not None:
            return max(0.0, self._opened_at + self._open_for - now)
        if self._state is BreakerState.HALF_OPEN:
            return _HALF_OPEN_RETRY_AFTER_S
        return 0.0

    # -- admission and recording ---------------------------------------------------------

    def allow(self) -> None:
        """Admit one call or raise :class:`CircuitOpenError` with the time to wait."""
        if self._state is BreakerState.CLOSED:
            return
        now = self._clock()
        self._refresh(now)
        if self._state is BreakerState.HALF_OPEN:
            if self._probes_admitted < self.config.half_open_probes:
                self._probes_admitted += 1
                return
            if now - self._probe_started_at > self.config.open_s:
                # probes that never reported (their caller vanished): admit fresh ones
                self._probe_started_at = now
                self._probes_admitted = self._probe_calls + 1
                return
        self.rejected += 1
        raise CircuitOpenError(self.name, self.retry_after_s())

    def record_success(self, duration_s: float = 0.0) -> None:
        """Record a call that succeeded (it still counts as slow above ``slow_call_s``)."""
        self._record(False, duration_s)

    def record_failure(self, duration_s: float = 0.0) -> None:
        """Record a call that failed in a way that says the dependency is unhealthy."""
        self._record(True, duration_s)

    def record_ignored(self) -> None:
        """A call ended with an outcome that says nothing about health: free its probe slot."""
        if self._state is BreakerState.HALF_OPEN and self._probes_admitted > self._probe_calls:
            self._probes_admitted -= 1

    def _record(self, failed: bool, duration_s: float) -> None:
        now = self._clock()
        slow = duration_s >= self.config.slow_call_s
        state = self._state
        if state is BreakerState.CLOSED:
            window = self._window
            window.add(now, failed, slow)
            if window.calls >= self.config.min_calls and self._over_threshold(
                    window.calls, window.failures, window.slow):
                self._transition(BreakerState.OPEN, now)
        elif state is BreakerState.HALF_OPEN:
            self._record_probe(failed, slow, now)
        # OPEN: a call admitted before the breaker opened reports late: ignored

    def _record_probe(self, failed: bool, slow: bool, now: float) -> None:
        if self._probe_calls >= self._probes_admitted:
            return  # a call admitted before the breaker opened, reporting late: not a probe
        self._probe_calls += 1
        self._probe_failures += failed
        self._probe_slow += slow
        probes = self.config.half_open_probes
        if self._probe_failures >= math.ceil(self.config.failure_rate * probes - 1e-9):
            self._transition(BreakerState.OPEN, now)
        elif self._probe_calls >= probes:
            if self._over_threshold(self._probe_calls, self._probe_failures, self._probe_slow):
                self._transition(BreakerState.OPEN, now)
            else:
                self._transition(BreakerState.CLOSED, now)

    def _over_threshold(self, calls: int, failures: int, slow: int) -> bool:
        return (failures >= self.config.failure_rate * calls
                or slow >= self.config.slow_rate * calls)

    async def call(
        self,
        fn: Callable[..., Awaitable[T]],
        *args: Any,
        fallback: Callable[[BaseException], T | Awaitable[T]] | None = None,
        **kwargs: Any,
    ) -> T:
        """Run ``await fn(*args, **kwargs)`` through the breaker.

        Rejected (open) or failed calls go to ``fallback(exc)`` when one is given
        (its result, awaited if needed, is returned); otherwise the error propagates.
        Cancellation frees the probe slot and propagates, never counted.
        """
        try:
            self.allow()
        except CircuitOpenError as exc:
            if fallback is None:
                raise
            return await _maybe_await(fallback(exc))
        started = self._clock()
        try:
            result = await fn(*args, **kwargs)
        except BaseException as exc:
            if not isinstance(exc, Exception) or not self._is_failure(exc):
                self.record_ignored()
                raise
            self.record_failure(self._clock() - started)
            if fallback is None:
                raise
            return await _maybe_await(fallback(exc))
        self.record_success(self._clock() - started)
        return result

    def reset(self) -> None:
        """Close the breaker by hand and forget the window (the admin reset)."""
        now = self._clock()
        if self._state is not BreakerState.CLOSED:
            self._transition(BreakerState.CLOSED, now)
        self._window.clear()
        self._consecutive_opens = 0
        self._open_for = self.config.open_s

    def snapshot(self) -> dict[str, Any]:
        """State, window counts and rates, open timing and recent transitions, as JSON."""
        now = self._clock()
        self._refresh(now)
        self._window.advance(now)
        calls, fails, slow = self._window.calls, self._window.failures, self._window.slow
        return {
            "name": self.name,
            "state": self._state.value,
            "calls": calls,
            "failures": fails,
            "slow_calls": slow,
            "failure_rate": fails / calls if calls else 0.0,
            "slow_rate": slow / calls if calls else 0.0,
            "opened_at": self._opened_at,
            "open_for_s": self._open_for if self._state is BreakerState.OPEN else None,
            "retry_after_s": self.retry_after_s(),
            "consecutive_opens": self._consecutive_opens,
            "rejected": self.rejected,
            "transitions": self.transitions,
            "history": list(self._history),
        }


async def _maybe_await(value: T | Awaitable[T]) -> T:
    if inspect.isawaitable(value):
        return await value
    return value


class BreakerRegistry:
    """Named breakers of one process: created on first use, listed and reset by name."""

    def __init__(self, default_config: BreakerConfig | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._default = default_config or BreakerConfig()
        self._clock = clock
        self._breakers: dict[str, CircuitBreaker] = {}

    def get_or_create(self, name: str, config: BreakerConfig | None = None, *,
                      is_failure: Callable[[BaseException], bool] | None = None) -> CircuitBreaker:
        """The breaker called ``name``; created with ``config`` (or the default) if new."""
        breaker = self._breakers.get(name)
        if breaker is None:
            breaker = CircuitBreaker(name, config or self._default, self._clock,
                                     is_failure=is_failure)
            self._breakers[name] = breaker
        return breaker

    def get(self, name: str) -> CircuitBreaker | None:
        return self._breakers.get(name)

    def names(self) -> list[str]:
        return sorted(self._breakers)

    def snapshots(self) -> dict[str, dict[str, Any]]:
        """Every breaker's snapshot, by name."""
        return {name: self._breakers[name].snapshot() for name in sorted(self._breakers)}

    def reset(self, name: str | None = None) -> list[str]:
        """Reset one breaker (``KeyError`` naming it if unknown) or all; return the names reset."""
        if name is None:
            targets = sorted(self._breakers)
        elif name in self._breakers:
            targets = [name]
        else:
            raise KeyError(f"no circuit breaker named {name!r} (known: {self.names()})")
        for target in targets:
            self._breakers[target].reset()
        return targets
