"""Health monitor: down after N consecutive failures, up after one success, inconclusive
probes ignored, a hanging probe bounded by the timeout, and a clean stop (pure logic with
fake probes)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from resilience_fakes import FakeClock

from reference_impl.resilience import HealthMonitor, ProbeInconclusive


class ScriptedProbe:
    """Plays back outcomes: "ok", "fail", "skip" (inconclusive) or "hang"."""

    def __init__(self, outcomes: list[str]) -> None:
        self.outcomes = list(outcomes)
        self.calls = 0

    async def __call__(self) -> None:
        self.calls += 1
        outcome = self.outcomes.pop(0) if self.outcomes else "ok"
        if outcome == "fail":
            raise ConnectionRefusedError("connect call failed")
        if outcome == "skip":
            raise ProbeInconclusive("pool busy")
        if outcome == "hang":
            await asyncio.sleep(3600)


def _run(monitor: HealthMonitor, n: int) -> list[bool]:
    """``n`` probes in a row; the verdict after each."""
    async def scenario() -> list[bool]:
        verdicts = []
        for _ in range(n):
            await monitor.probe_once()
            verdicts.append(monitor.up)
        return verdicts

    return asyncio.run(scenario())


def test_down_after_consecutive_failures_up_after_one_success(clock: FakeClock) -> None:
    """Two failures in a row mark it down (one is a blip); one success marks it up."""
    probe = ScriptedProbe(["ok", "fail", "ok", "fail", "fail", "fail", "ok", "ok"])
    heard: list[bool] = []
    monitor = HealthMonitor("db", probe, failure_threshold=2, clock=clock)
    monitor.on_change(heard.append)
    assert monitor.up and monitor.snapshot()["last_ok_s_ago"] is None
    assert _run(monitor, 8) == [True, True, True, True, False, False, True, True]
    assert heard == [False, True]
    snap = monitor.snapshot()
    assert snap["up"] is True and snap["consecutive_failures"] == 0
    assert (snap["probes"], snap["failures"], snap["transitions"]) == (8, 4, 2)
    assert snap["last_error"] == "ConnectionRefusedError: connect call failed"


def test_inconclusive_probes_neither_fail_nor_recover(clock: FakeClock) -> None:
    """A skipped probe (pool busy) is no failure and no success: the count and the verdict
    stay as they were, so a full pool never turns readiness 503 by itself."""
    monitor = HealthMonitor("db", ScriptedProbe(["skip"] * 5 + ["fail", "skip", "fail", "skip"]),
                            failure_threshold=2, clock=clock)
    assert _run(monitor, 5) == [True] * 5
    assert monitor.consecutive_failures == 0 and monitor.inconclusive == 5
    assert _run(monitor, 4) == [True, True, False, False]
    assert monitor.snapshot()["last_inconclusive"] == "pool busy"


def test_snapshot_ages_follow_the_clock(clock: FakeClock) -> None:
    monitor = HealthMonitor("db", ScriptedProbe(["ok", "fail", "fail"]), clock=clock)
    _run(monitor, 1)
    clock.advance(1.5)
    _run(monitor, 2)
    clock.advance(0.25)
    snap = monitor.snapshot()
    assert snap["last_ok_s_ago"] == 1.75 and snap["down_for_s"] == 0.25
    assert snap["consecutive_failures"] == 2 and snap["up"] is False


def test_a_hanging_probe_is_a_failure_after_the_timeout() -> None:
    """A frozen database does not answer: the timeout bounds the probe and counts as failed."""
    monitor = HealthMonitor("db", ScriptedProbe(["hang", "hang"]), timeout_s=0.05,
                            failure_threshold=2)
    assert _run(monitor, 2) == [True, False]
    assert monitor.last_error == "no answer within 0.05s"


def test_loop_probes_every_interval_and_stops_cleanly() -> None:
    """start() probes at once and every interval; stop() cancels a probe in flight."""
    probe = ScriptedProbe(["fail", "fail", "ok", "hang"])

    async def scenario() -> HealthMonitor:
        monitor = HealthMonitor("db", probe, interval_s=0.01, timeout_s=5.0)
        verdicts: list[bool] = []
        monitor.on_change(verdicts.append)
        await monitor.start()
        await monitor.start()  # idempotent
        for _ in range(200):
            if probe.calls >= 4:
                break
            await asyncio.sleep(0.01)
        assert monitor.running and verdicts == [False, True]
        await monitor.stop(timeout_s=1.0)  # the 4th probe hangs: cancelled
        assert not monitor.running
        await monitor.stop()  # twice is fine
        return monitor

    monitor = asyncio.run(scenario())
    assert probe.calls == 4 and monitor.up


def test_the_cadence_is_fixed_whatever_a_probe_takes(clock: FakeClock) -> None:
    """The next probe starts one interval after the previous one started: a slow probe
    (one that ran into its timeout) shortens the wait instead of adding to it."""
    durations = [0.3, 0.8, 0.1]
    sleeps: list[float] = []

    async def probe() -> None:
        clock.advance(durations.pop(0))

    async def sleep(seconds: float) -> None:
        sleeps.append(round(seconds, 6))
        if len(sleeps) == 3:
            raise asyncio.CancelledError  # ends the loop
        await asyncio.sleep(0)

    async def scenario() -> None:
        monitor = HealthMonitor("db", probe, interval_s=0.5, clock=clock, sleep=sleep)
        await monitor.start()
        for _ in range(100):
            if not monitor.running:
                break
            await asyncio.sleep(0)
        assert not monitor.running

    asyncio.run(scenario())
    assert sleeps == [0.2, 0.0, 0.4]


def test_a_broken_listener_does_not_stop_the_verdict(clock: FakeClock) -> None:
    monitor = HealthMonitor("db", ScriptedProbe(["fail"]), failure_threshold=1, clock=clock)

    def broken(_: bool) -> None:
        raise RuntimeError("listener bug")

    heard: list[bool] = []
    monitor.on_change(broken)
    monitor.on_change(heard.append)
    assert _run(monitor, 1) == [False] and heard == [False]


@pytest.mark.parametrize("make", [
    lambda p: HealthMonitor("db", p, interval_s=0),
    lambda p: HealthMonitor("db", p, timeout_s=-1),
    lambda p: HealthMonitor("db", p, failure_threshold=0),
])
def test_bad_settings_are_refused(make: Callable[[ScriptedProbe], HealthMonitor]) -> None:
    with pytest.raises(ValueError, match="HealthMonitor needs"):
        make(ScriptedProbe([]))
