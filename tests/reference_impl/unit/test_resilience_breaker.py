"""Circuit breaker transitions under a fake clock: window, minimum calls, slow calls,
open time doubling to its cap, half-open probes deciding, fallback, registry."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st
from resilience_fakes import FakeClock

from reference_impl.resilience.breaker import (
    BreakerConfig,
    BreakerRegistry,
    BreakerState,
    CircuitBreaker,
)
from reference_impl.resilience.errors import CircuitOpenError

CFG = BreakerConfig()  # the CONVENTIONS.md defaults


def _feed(breaker: CircuitBreaker, successes: int, failures: int, duration_s: float = 0.01) -> None:
    for _ in range(successes):
        breaker.allow()
        breaker.record_success(duration_s)
    for _ in range(failures):
        breaker.allow()
        breaker.record_failure(duration_s)


def _feed_results(breaker: CircuitBreaker, successes: int) -> None:
    """Report ``successes`` calls that were admitted earlier."""
    for _ in range(successes):
        breaker.record_success(0.01)


def _open(breaker: CircuitBreaker) -> None:
    _feed(breaker, 0, breaker.config.min_calls)
    assert breaker.state is BreakerState.OPEN


def test_defaults_are_the_documented_figures() -> None:
    """The defaults are CONVENTIONS.md's: 10 s window, 20 calls, 50 %, 250 ms/80 %, 5->30 s, 3."""
    assert (CFG.window_s, CFG.min_calls, CFG.failure_rate, CFG.slow_call_s, CFG.slow_rate,
            CFG.open_s, CFG.max_open_s, CFG.half_open_probes) == (10, 20, 0.5, 0.25, 0.8, 5, 30, 3)


def test_needs_min_calls_before_opening(clock: FakeClock) -> None:
    """19 failures (all calls failing) keep it closed; the 20th call opens it."""
    breaker = CircuitBreaker("db", CFG, clock)
    _feed(breaker, 0, 19)
    assert breaker.state is BreakerState.CLOSED
    _feed(breaker, 0, 1)
    assert breaker.state is BreakerState.OPEN


def test_failure_rate_threshold(clock: FakeClock) -> None:
    """11 ok + 9 failed (45 %) stays closed; one more failure (10/21 = 47.6 %) too;
    reaching 50 % opens it."""
    breaker = CircuitBreaker("db", CFG, clock)
    _feed(breaker, 11, 9)
    assert breaker.state is BreakerState.CLOSED
    _feed(breaker, 0, 1)
    assert breaker.state is BreakerState.CLOSED
    _feed(breaker, 0, 1)  # 11/22 = 50 %
    assert breaker.state is BreakerState.OPEN


def test_old_failures_leave_the_window(clock: FakeClock) -> None:
    """Failures older than the window do not count: 15 failures, 12 s later 5 more stay closed."""
    breaker = CircuitBreaker("db", CFG, clock)
    _feed(breaker, 0, 15)
    clock.advance(12.0)
    _feed(breaker, 0, 5)
    assert breaker.state is BreakerState.CLOSED
    assert breaker.snapshot()["calls"] == 5


def test_window_keeps_recent_calls(clock: FakeClock) -> None:
    """Calls spread over 8 s are all still in a 10 s window and open the breaker together."""
    breaker = CircuitBreaker("db", CFG, clock)
    for _ in range(4):
        _feed(breaker, 0, 5)
        clock.advance(2.0)
    assert breaker.state is BreakerState.OPEN


def test_slow_calls_open_it(clock: FakeClock) -> None:
    """16 of 20 successful calls slower than 250 ms (80 %) open it; 15 of 20 do not."""
    breaker = CircuitBreaker("db", CFG, clock)
    _feed(breaker, 5, 0, duration_s=0.01)
    _feed(breaker, 14, 0, duration_s=0.3)
    _feed(breaker, 1, 0, duration_s=0.3)
    assert breaker.state is BreakerState.CLOSED  # 15/20 = 75 %
    _feed(breaker, 1, 0, duration_s=0.3)  # 16/21 = 76 %
    _feed(breaker, 4, 0, duration_s=0.3)  # 20/25 = 80 %
    assert breaker.state is BreakerState.OPEN


def test_open_rejects_with_remaining_time_then_half_opens(clock: FakeClock) -> None:
    """While open, allow() raises with retry_after = time left; after open_s it half-opens."""
    breaker = CircuitBreaker("db", CFG, clock)
    _open(breaker)
    clock.advance(2.0)
    with pytest.raises(CircuitOpenError) as info:
        breaker.allow()
    assert info.value.name == "db"
    assert info.value.retry_after_s == pytest.approx(3.0)
    assert breaker.snapshot()["rejected"] == 1
    clock.advance(3.0)
    assert breaker.state is BreakerState.HALF_OPEN


def test_half_open_admits_only_the_probes(clock: FakeClock) -> None:
    """Half-open admits exactly 3 probes; a 4th concurrent call is rejected."""
    breaker = CircuitBreaker("db", CFG, clock)
    _open(breaker)
    clock.advance(5.0)
    for _ in range(3):
        breaker.allow()
    with pytest.raises(CircuitOpenError):
        breaker.allow()


def test_probes_succeeding_close_it(clock: FakeClock) -> None:
    """Three successful probes close the breaker and clear the window."""
    breaker = CircuitBreaker("db", CFG, clock)
    _open(breaker)
    clock.advance(5.0)
    _feed(breaker, 2, 0)
    assert breaker.state is BreakerState.HALF_OPEN  # decides on all three
    _feed(breaker, 1, 0)
    assert breaker.state is BreakerState.CLOSED
    assert breaker.snapshot()["calls"] == 0


def test_probes_failing_reopen_with_doubling_to_cap(clock: FakeClock) -> None:
    """Each failed half-open round reopens for twice as long: 5, 10, 20, 30, 30 s."""
    breaker = CircuitBreaker("db", CFG, clock)
    _open(breaker)
    waits = []
    for _ in range(5):
        waits.append(breaker.retry_after_s())
        clock.advance(breaker.retry_after_s())
        assert breaker.state is BreakerState.HALF_OPEN
        _feed(breaker, 0, 2)  # 2 of 3 probes failed: the majority decides at once
        assert breaker.state is BreakerState.OPEN
    assert waits == pytest.approx([5.0, 10.0, 20.0, 30.0, 30.0])


def test_closing_resets_the_doubling(clock: FakeClock) -> None:
    """After a successful recovery the next open lasts open_s again."""
    breaker = CircuitBreaker("db", CFG, clock)
    _open(breaker)
    clock.advance(5.0)
    _feed(breaker, 0, 2)
    assert breaker.retry_after_s() == pytest.approx(10.0)
    clock.advance(10.0)
    _feed(breaker, 3, 0)
    assert breaker.state is BreakerState.CLOSED
    _open(breaker)
    assert breaker.retry_after_s() == pytest.approx(5.0)


def test_one_slow_probe_of_three_still_closes(clock: FakeClock) -> None:
    """Probes decide by the same rates: 1 slow of 3 (33 %) is under 80 %: closed."""
    breaker = CircuitBreaker("db", CFG, clock)
    _open(breaker)
    clock.advance(5.0)
    _feed(breaker, 2, 0)
    _feed(breaker, 1, 0, duration_s=1.0)
    assert breaker.state is BreakerState.CLOSED


def test_lost_probes_are_replaced(clock: FakeClock) -> None:
    """Probes whose callers never reported do not wedge the breaker half-open forever: while
    they may still report (open_s since they were admitted) a 4th call is rejected; after that
    a fresh set of probes is admitted (3 again, the 4th rejected), and they decide."""
    breaker = CircuitBreaker("db", CFG, clock)
    _open(breaker)
    clock.advance(5.0)
    for _ in range(3):
        breaker.allow()
    clock.advance(CFG.open_s - 0.1)
    with pytest.raises(CircuitOpenError):
        breaker.allow()  # the lost probes may still report: not replaced yet
    assert breaker.snapshot()["rejected"] == 1
    clock.advance(0.2)
    for _ in range(3):
        breaker.allow()  # admitted again instead of rejected
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.snapshot()["rejected"] == 1
    with pytest.raises(CircuitOpenError):
        breaker.allow()
    _feed_results(breaker, successes=3)
    assert breaker.state is BreakerState.CLOSED  # the fresh probes decided


def test_state_listeners_and_history(clock: FakeClock) -> None:
    """Listeners see every transition; a failing listener does not stop the others."""
    seen: list[tuple[str, str, str]] = []
    breaker = CircuitBreaker("db", CFG, clock)

    def broken(name: str, old: BreakerState, new: BreakerState) -> None:
        raise RuntimeError("listener bug")

    breaker.on_state_change(broken)
    breaker.on_state_change(lambda name, old, new: seen.append((name, old.value, new.value)))
    _open(breaker)
    clock.advance(5.0)
    _feed(breaker, 3, 0)
    assert seen == [("db", "closed", "open"), ("db", "open", "half_open"),
                    ("db", "half_open", "closed")]
    snap = breaker.snapshot()
    assert snap["transitions"] == 3
    assert [h["to"] for h in snap["history"]] == ["open", "half_open", "closed"]


def test_manual_reset_closes(clock: FakeClock) -> None:
    """reset() closes an open breaker at once and calls pass again."""
    breaker = CircuitBreaker("db", CFG, clock)
    _open(breaker)
    breaker.reset()
    assert breaker.state is BreakerState.CLOSED
    breaker.allow()
    assert breaker.retry_after_s() == 0.0


def test_call_counts_failures_and_uses_fallback(clock: FakeClock) -> None:
    """call(): counted failures open the breaker; then fallback answers without calling fn."""
    calls = 0

    async def failing() -> str:
        nonlocal calls
        calls += 1
        raise ConnectionResetError("reset")

    async def scenario() -> list[str]:
        breaker = CircuitBreaker("db", BreakerConfig(min_calls=2), clock)
        out = [await breaker.call(failing, fallback=lambda exc: type(exc).__name__)
               for _ in range(3)]
        return out

    result = asyncio.run(scenario())
    assert result == ["ConnectionResetError", "ConnectionResetError", "CircuitOpenError"]
    assert calls == 2


def test_call_ignores_what_is_failure_excludes(clock: FakeClock) -> None:
    """Errors is_failure rejects (a caller's bad input) propagate and never open the breaker."""
    async def bad_input() -> None:
        raise ValueError("bad input")

    async def scenario() -> CircuitBreaker:
        breaker = CircuitBreaker("db", BreakerConfig(min_calls=2), clock,
                                 is_failure=lambda exc: not isinstance(exc, ValueError))
        for _ in range(5):
            with pytest.raises(ValueError):
                await breaker.call(bad_input)
        return breaker

    assert asyncio.run(scenario()).state is BreakerState.CLOSED


def test_call_cancellation_frees_the_probe(clock: FakeClock) -> None:
    """A probe cancelled mid-call is not counted and its slot is admitted again."""
    async def hang() -> None:
        await asyncio.sleep(10)

    async def scenario() -> CircuitBreaker:
        breaker = CircuitBreaker("db", BreakerConfig(half_open_probes=1, min_calls=1), clock)
        breaker.record_failure()
        clock.advance(5.0)
        task = asyncio.create_task(breaker.call(hang))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        breaker.allow()  # the slot came back
        return breaker

    assert asyncio.run(scenario()).state is BreakerState.HALF_OPEN


def test_call_measures_duration_with_the_clock(clock: FakeClock) -> None:
    """call() times fn with the breaker's clock: slow successes count as slow calls."""
    async def slow() -> int:
        clock.advance(0.5)
        return 1

    async def scenario() -> CircuitBreaker:
        breaker = CircuitBreaker("db", BreakerConfig(min_calls=3), clock)
        for _ in range(3):
            assert await breaker.call(slow) == 1
        return breaker

    assert asyncio.run(scenario()).state is BreakerState.OPEN


def test_registry(clock: FakeClock) -> None:
    """One breaker per name; snapshots by name; reset by name, all, or KeyError naming it."""
    registry = BreakerRegistry(BreakerConfig(min_calls=1), clock)
    db = registry.get_or_create("db")
    assert registry.get_or_create("db") is db
    registry.get_or_create("cache")
    db.record_failure()
    assert registry.snapshots()["db"]["state"] == "open"
    assert registry.names() == ["cache", "db"]
    assert registry.reset("db") == ["db"]
    assert db.state is BreakerState.CLOSED
    assert registry.reset() == ["cache", "db"]
    with pytest.raises(KeyError, match="nope"):
        registry.reset("nope")


def test_config_validation_names_the_field() -> None:
    """A bad figure is refused with its name and value."""
    with pytest.raises(ValueError, match="failure_rate"):
        BreakerConfig(failure_rate=1.5)
    with pytest.raises(ValueError, match="open_s"):
        BreakerConfig(open_s=40, max_open_s=30)


@given(gaps=st.lists(st.floats(0.0, 4.0), min_size=1, max_size=60))
def test_window_counts_recent_calls_and_forgets_old_ones(gaps: list[float]) -> None:
    """For any call timing, a call younger than window_s * 0.9 is always counted and a call
    window_s old or older never is (the bucket granularity is window_s / 10)."""
    clock = FakeClock()
    breaker = CircuitBreaker("db", BreakerConfig(min_calls=10**6), clock)
    times = []
    for gap in gaps:
        clock.advance(gap)
        breaker.record_success(0.0)
        times.append(clock())
    clock.advance(gaps[0])
    ages = [clock() - t for t in times]
    counted = breaker.snapshot()["calls"]
    assert sum(age < 9.0 - 1e-9 for age in ages) <= counted <= sum(age < 10.0 for age in ages)


def test_late_results_do_not_decide_half_open(clock: FakeClock) -> None:
    """Calls admitted while closed that report after the breaker half-opened are not
    probes: three late successes leave it half-open, and the real probes still decide."""
    breaker = CircuitBreaker("db", CFG, clock)
    _open(breaker)
    clock.advance(5.0)
    assert breaker.state is BreakerState.HALF_OPEN
    for _ in range(3):
        breaker.record_success(0.01)  # late reports from calls admitted long ago
    assert breaker.state is BreakerState.HALF_OPEN
    _feed(breaker, 0, 2)
    assert breaker.state is BreakerState.OPEN
