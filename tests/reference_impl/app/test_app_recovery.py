"""Unit tests of the recovery prober with a real breaker and a scripted probe (no database)."""

from __future__ import annotations

import asyncio

import pytest

from reference_impl.app.recovery import RecoveryProber
from reference_impl.resilience import BreakerConfig, BreakerState, CircuitBreaker

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class ScriptedProbe:
    """Fails ``failures`` times, then succeeds; counts calls."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    async def __call__(self, dsn: str, timeout_s: float) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise ConnectionRefusedError("still down")


def _open(breaker: CircuitBreaker) -> None:
    for _ in range(breaker.config.min_calls):
        breaker.allow()
        breaker.record_failure(0.0)


async def test_open_breaker_is_reset_after_the_first_successful_probe() -> None:
    """Probes run only while needed; the first success closes the breaker long before its 5 s."""
    breaker = CircuitBreaker("database", BreakerConfig(min_calls=4))
    probe = ScriptedProbe(failures=2)
    prober = RecoveryProber(breaker, "postgresql://x/y", interval_s=0.01, probe=probe)
    _open(breaker)
    assert breaker.state is BreakerState.OPEN
    for _ in range(200):
        if breaker.state is BreakerState.CLOSED:
            break
        await asyncio.sleep(0.01)
    assert breaker.state is BreakerState.CLOSED
    assert probe.calls == 3 and prober.early_resets == 1
    await asyncio.sleep(0.05)
    assert probe.calls == 3  # nothing left to probe for
    await prober.stop()


async def test_unreachable_report_makes_it_suspect_until_a_probe_succeeds() -> None:
    """report_unreachable marks the database suspect at once (readiness 503) and clears it on
    the first good probe, without touching a closed breaker."""
    breaker = CircuitBreaker("database")
    probe = ScriptedProbe(failures=1)
    prober = RecoveryProber(breaker, "postgresql://x/y", interval_s=0.01, probe=probe)
    prober.report_unreachable()
    assert prober.suspect
    for _ in range(200):
        if not prober.suspect:
            break
        await asyncio.sleep(0.01)
    assert not prober.suspect and probe.calls == 2 and prober.early_resets == 0
    await prober.stop()
