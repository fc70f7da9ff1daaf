"""Backoff bounds (property test), and retry_call never going beyond its attempts,
deadline, budget or an open breaker."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st
from resilience_fakes import FakeClock

from reference_impl.resilience.breaker import BreakerConfig, CircuitBreaker
from reference_impl.resilience.retry import RetryBudget, RetryPolicy, backoff_delays, retry_call
from reference_impl.resilience.sqlstate import classify_db_error


def _retryable(exc: BaseException) -> bool:
    return classify_db_error(exc).retryable


def _failing(times: int, exc: Callable[[], Exception] = lambda: ConnectionRefusedError("no"),
             clock: FakeClock | None = None, cost_s: float = 0.0
             ) -> tuple[Callable[[], Awaitable[str]], list[float]]:
    """fn failing ``times`` times then returning 'ok'; records each attempt's start time."""
    starts: list[float] = []

    async def fn() -> str:
        starts.append(clock() if clock else 0.0)
        if clock:
            clock.advance(cost_s)
        if len(starts) <= times:
            raise exc()
        return "ok"

    return fn, starts


@given(max_attempts=st.integers(1, 12), base_s=st.floats(0.0, 2.0),
       extra_cap=st.floats(0.0, 30.0), seed=st.integers(0, 2**32))
def test_backoff_delays_within_full_jitter_bounds(max_attempts: int, base_s: float,
                                                  extra_cap: float, seed: int) -> None:
    """Every delay n lies in [0, min(cap, base * 2**n)], and there are max_attempts - 1."""
    policy = RetryPolicy(max_attempts=max_attempts, base_s=base_s, cap_s=base_s + extra_cap)
    delays = list(backoff_delays(policy, random.Random(seed)))
    assert len(delays) == max_attempts - 1
    for n, delay in enumerate(delays):
        assert 0.0 <= delay <= min(policy.cap_s, base_s * 2**n) + 1e-12


def test_backoff_is_jittered() -> None:
    """Full jitter: delays for the same attempt differ between draws (no thundering herd)."""
    policy = RetryPolicy(max_attempts=2, base_s=0.05, cap_s=1.0)
    rng = random.Random(1)
    firsts = {next(backoff_delays(policy, rng)) for _ in range(50)}
    assert len(firsts) == 50


def test_retries_transient_errors_up_to_max_attempts(clock: FakeClock) -> None:
    """A refused connect is retried: 2 failures then success uses 3 attempts and 2 sleeps."""
    fn, starts = _failing(2, clock=clock)
    result = asyncio.run(retry_call(fn, RetryPolicy(), is_retryable=_retryable, deadline=None,
                                    sleep=clock.sleep, clock=clock))
    assert result == "ok"
    assert len(starts) == 3
    assert len(clock.sleeps) == 2


def test_gives_up_after_max_attempts_with_the_last_error(clock: FakeClock) -> None:
    """Three attempts in all, then the original error is re-raised unchanged."""
    fn, starts = _failing(10, clock=clock)
    with pytest.raises(ConnectionRefusedError):
        asyncio.run(retry_call(fn, RetryPolicy(max_attempts=3), is_retryable=_retryable,
                               deadline=None, sleep=clock.sleep, clock=clock))
    assert len(starts) == 3


def test_never_retries_permanent_errors(clock: FakeClock) -> None:
    """A non-retryable error (here a ValueError) is raised after exactly one attempt."""
    fn, starts = _failing(1, exc=lambda: ValueError("bad"), clock=clock)
    with pytest.raises(ValueError):
        asyncio.run(retry_call(fn, RetryPolicy(), is_retryable=_retryable, deadline=None,
                               sleep=clock.sleep, clock=clock))
    assert len(starts) == 1
    assert clock.sleeps == []


def test_a_first_failure_made_by_the_caller_counts_as_attempt_one(clock: FakeClock) -> None:
    """The hot-path entry: the caller's own failed attempt is attempt 1, so max_attempts=3
    leaves two more calls; the caller counted the request, so the budget is not charged
    twice; a permanent first failure comes back unchanged without any call or sleep."""
    fn, starts = _failing(10, clock=clock)
    budget = RetryBudget(ratio=0.0, min_per_s=1.0, window_s=10, clock=clock)
    first = ConnectionRefusedError("first")
    with pytest.raises(ConnectionRefusedError) as info:
        asyncio.run(retry_call(fn, RetryPolicy(max_attempts=3), is_retryable=_retryable,
                               deadline=None, sleep=clock.sleep, clock=clock, budget=budget,
                               first_failure=first))
    assert len(starts) == 2 and len(clock.sleeps) == 2 and info.value is not first
    assert budget.requests == 0 and budget.retries == 2
    permanent = ValueError("bad")
    with pytest.raises(ValueError) as raised:
        asyncio.run(retry_call(fn, RetryPolicy(), is_retryable=_retryable, deadline=None,
                               sleep=clock.sleep, clock=clock, first_failure=permanent))
    assert raised.value is permanent and len(starts) == 2 and len(clock.sleeps) == 2


@given(seed=st.integers(0, 2**32), budget_s=st.floats(0.0, 3.0), cost_s=st.floats(0.0, 0.5))
def test_never_beyond_the_deadline(seed: int, budget_s: float, cost_s: float) -> None:
    """Whatever the jitter and attempt cost, no attempt starts and no sleep ends past the deadline."""
    clock = FakeClock()
    deadline = clock() + budget_s
    fn, starts = _failing(100, clock=clock, cost_s=cost_s)
    with pytest.raises(ConnectionRefusedError):
        asyncio.run(retry_call(fn, RetryPolicy(max_attempts=50, base_s=0.05, cap_s=1.0),
                               is_retryable=_retryable, deadline=deadline, sleep=clock.sleep,
                               clock=clock, rng=random.Random(seed)))
    assert all(t < deadline or i == 0 for i, t in enumerate(starts))


def test_stops_when_the_budget_is_empty(clock: FakeClock) -> None:
    """With no retry budget left, a transient error is raised after one attempt."""
    budget = RetryBudget(ratio=0.0, min_per_s=0.0, clock=clock)
    fn, starts = _failing(5, clock=clock)
    with pytest.raises(ConnectionRefusedError):
        asyncio.run(retry_call(fn, RetryPolicy(), is_retryable=_retryable, deadline=None,
                               budget=budget, sleep=clock.sleep, clock=clock))
    assert len(starts) == 1
    assert budget.exhausted_total == 1


def test_budget_allows_a_share_of_requests(clock: FakeClock) -> None:
    """ratio 0.2 over 100 requests allows 20 retries (no floor), the 21st is refused;
    once the requests leave the window, retries are refused again."""
    budget = RetryBudget(ratio=0.2, min_per_s=0.0, window_s=10, clock=clock)
    for _ in range(100):
        budget.record_request()
    assert all(budget.try_spend() for _ in range(20))
    assert not budget.try_spend()
    clock.advance(11.0)
    budget.record_request()
    assert not budget.try_spend()
    assert budget.snapshot()["requests"] == 1


def test_budget_floor_lets_a_quiet_service_retry(clock: FakeClock) -> None:
    """min_per_s * window_s retries are allowed even with no requests at all."""
    budget = RetryBudget(ratio=0.2, min_per_s=1.0, window_s=10, clock=clock)
    assert sum(budget.try_spend() for _ in range(15)) == 10


def test_no_retry_while_the_breaker_is_open(clock: FakeClock) -> None:
    """An open breaker stops retries: one attempt, no sleep."""
    breaker = CircuitBreaker("db", BreakerConfig(min_calls=1), clock)
    breaker.record_failure()
    fn, starts = _failing(5, clock=clock)
    with pytest.raises(ConnectionRefusedError):
        asyncio.run(retry_call(fn, RetryPolicy(), is_retryable=_retryable, deadline=None,
                               breaker=breaker, sleep=clock.sleep, clock=clock))
    assert len(starts) == 1


def test_breaker_opening_during_backoff_stops_retry(clock: FakeClock) -> None:
    """If the breaker opens while we sleep, the next attempt does not happen."""
    breaker = CircuitBreaker("db", BreakerConfig(min_calls=1), clock)
    fn, starts = _failing(5, clock=clock)

    async def sleep_and_open(seconds: float) -> None:
        breaker.record_failure()
        await clock.sleep(seconds)

    with pytest.raises(ConnectionRefusedError):
        asyncio.run(retry_call(fn, RetryPolicy(), is_retryable=_retryable, deadline=None,
                               breaker=breaker, sleep=sleep_and_open, clock=clock))
    assert len(starts) == 1


def test_on_retry_reports_each_retry(clock: FakeClock) -> None:
    """on_retry(attempt, delay, error) is called once per retry, before its sleep."""
    seen: list[tuple[int, float, str]] = []
    fn, _ = _failing(2, clock=clock)
    asyncio.run(retry_call(fn, RetryPolicy(), is_retryable=_retryable, deadline=None,
                           sleep=clock.sleep, clock=clock,
                           on_retry=lambda n, d, e: seen.append((n, d, type(e).__name__))))
    assert [(n, name) for n, _, name in seen] == [(1, "ConnectionRefusedError"),
                                                  (2, "ConnectionRefusedError")]
    assert [d for _, d, _ in seen] == clock.sleeps


def test_policy_validation() -> None:
    """Nonsense policies are refused with the offending figures."""
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError, match="base_s"):
        RetryPolicy(base_s=2.0, cap_s=1.0)
