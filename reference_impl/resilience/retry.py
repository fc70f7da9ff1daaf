"""Retry with capped exponential backoff and full jitter, bounded three ways.

``retry_call`` retries only what ``is_retryable`` calls transient, and stops at
the first of: ``policy.max_attempts`` attempts in all; the ``deadline`` (no
sleep or attempt starts past it); an empty :class:`RetryBudget` (retries stay
around ``ratio`` of requests, so a struggling dependency is not hit by a retry
storm); a circuit breaker that is not CLOSED (no retry while it is open or
probing).  When it stops it re-raises the last error unchanged, so callers
classify the real cause.

Delays are "full jitter" (AWS architecture blog): attempt ``n`` (0-based) waits
``uniform(0, min(cap_s, base_s * 2**n))``.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Protocol, TypeVar

__all__ = ["RetryBudget", "RetryPolicy", "backoff_delays", "retry_call"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """At most ``max_attempts`` attempts in all, delays capped at ``cap_s``."""

    max_attempts: int = 3
    base_s: float = 0.05
    cap_s: float = 1.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"RetryPolicy.max_attempts must be >= 1, got {self.max_attempts}")
        if self.base_s < 0 or self.cap_s < self.base_s:
            raise ValueError(f"RetryPolicy needs 0 <= base_s <= cap_s, got {self.base_s}, {self.cap_s}")

    def ceiling(self, n: int) -> float:
        """The largest delay before retry ``n`` (0-based): ``min(cap_s, base_s * 2**n)``."""
        return min(self.cap_s, self.base_s * 2.0 ** min(n, 62))


def backoff_delays(policy: RetryPolicy, rng: random.Random | None = None) -> Iterator[float]:
    """The ``max_attempts - 1`` delays between attempts, each ``uniform(0, ceiling(n))``."""
    rand = rng or random.Random()
    for n in range(policy.max_attempts - 1):
        yield rand.uniform(0.0, policy.ceiling(n))


class RetryBudget:
    """Retries allowed as a share of recent requests (Finagle's RetryBudget).

    Over the last ``window_s`` seconds at most ``ratio * requests + min_per_s * window_s``
    retries are allowed; the floor keeps a quiet service able to retry at all.
    Counts are kept in one-second buckets, so memory is fixed.
    """

    def __init__(self, ratio: float = 0.2, min_per_s: float = 10.0, window_s: int = 10,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if ratio < 0 or min_per_s < 0 or window_s < 1:
            raise ValueError(f"RetryBudget needs ratio, min_per_s >= 0 and window_s >= 1, "
                             f"got {ratio}, {min_per_s}, {window_s}")
        self.ratio = ratio
        self.min_per_s = min_per_s
        self.window_s = int(window_s)
        self._clock = clock
        self._buckets: deque[list[int]] = deque()  # [second, requests, retries]
        self.requests = self.retries = 0
        self.exhausted_total = 0

    def _bucket(self) -> list[int]:
        second = int(self._clock())
        while self._buckets and self._buckets[0][0] <= second - self.window_s:
            _, requests, retries = self._buckets.popleft()
            self.requests -= requests
            self.retries -= retries
        if not self._buckets or self._buckets[-1][0] != second:
            self._buckets.append([second, 0, 0])
        return self._buckets[-1]

    def record_request(self) -> None:
        """Count one first attempt (it earns ``ratio`` of a retry)."""
        self._bucket()[1] += 1
        self.requests += 1

    def try_spend(self) -> bool:
        """Take one retry from the budget; False (and counted) when it is empty."""
        bucket = self._bucket()
        if self.retries + 1 > self.ratio * self.requests + self.min_per_s * self.window_s:
            self.exhausted_total += 1
            return False
        bucket[2] += 1
        self.retries += 1
        return True

    def snapshot(self) -> dict[str, float | int]:
        self._bucket()
        return {"requests": self.requests, "retries": self.retries,
                "allowed": self.ratio * self.requests + self.min_per_s * self.window_s,
                "exhausted_total": self.exhausted_total}


class _BreakerLike(Protocol):
    @property
    def state(self) -> object: ...


def _breaker_closed(breaker: _BreakerLike | None) -> bool:
    if breaker is None:
        return True
    return getattr(breaker.state, "value", breaker.state) == "closed"


async def retry_call(
    fn: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    is_retryable: Callable[[BaseException], bool],
    deadline: float | None,
    budget: RetryBudget | None = None,
    breaker: _BreakerLike | None = None,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    rng: random.Random | None = None,
    clock: Callable[[], float] = time.monotonic,
    on_retry: Callable[[int, float, BaseException], None] | None = None,
    first_failure: Exception | None = None,
) -> T:
    """``await fn()``, retrying transient failures within policy, deadline, budget and breaker.

    ``deadline`` is an absolute ``clock()`` time (``None``: no deadline).  A retry
    is skipped when its jittered delay would end at or past the deadline.
    ``on_retry(attempt, delay_s, error)`` is called before each retry sleep
    (``attempt`` is the 1-based number of the attempt that failed), for metrics.
    Per-attempt time limits are the caller's (e.g. asyncpg's ``command_timeout``).
    ``first_failure``: the caller made the first attempt itself (a hot path that
    enters here only on a failure) and it raised this; the caller has then also
    counted the request in the budget.
    """
    if budget is not None and first_failure is None:
        budget.record_request()
    delays = backoff_delays(policy, rng)
    attempt, error = (0, None) if first_failure is None else (1, first_failure)
    while True:
        if error is None:
            attempt += 1
            try:
                return await fn()
            except Exception as exc:
                error = exc
        delay = next(delays, None)
        if (delay is None or not is_retryable(error) or not _breaker_closed(breaker)
                or (deadline is not None and clock() + delay >= deadline)
                or (budget is not None and not budget.try_spend())):
            raise error
        if on_retry is not None:
            on_retry(attempt, delay, error)
        await sleep(delay)
        if not _breaker_closed(breaker):
            # the breaker opened while we waited: do not add to the load on a dead dependency
            raise error
        error = None
