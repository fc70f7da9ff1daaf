"""The concurrency gate, the in-flight counter and the shared deadline timer, on a real loop."""

from __future__ import annotations

import asyncio
import time

import pytest

from reference_impl.app.deadlines import DEADLINE_MESSAGE, Deadlines
from reference_impl.app.gate import ConcurrencyGate, InFlight


def test_gate_hands_slots_over_in_arrival_order_and_sheds_a_full_line() -> None:
    """limit 1 + queue 2: waiters get the slot first come, first served; a fourth is refused
    at once; the slot goes back to the gate when nobody waits."""

    async def scenario() -> None:
        gate = ConcurrencyGate(limit=1, queue=2)
        assert gate.try_enter()
        order: list[str] = []

        async def waiter(name: str) -> None:
            assert await gate.enter(None)
            order.append(name)
            gate.leave()

        tasks = [asyncio.create_task(waiter(n)) for n in ("a", "b")]
        await asyncio.sleep(0)
        assert gate.waiting == 2 and gate.inside == 3
        assert await gate.enter(None) is False and gate.rejected == 1
        gate.leave()
        await asyncio.gather(*tasks)
        assert order == ["a", "b"]
        assert gate.active == 0 and gate.inside == 0 and gate.try_enter()

    asyncio.run(scenario())


def test_gate_wait_times_out_and_a_cancelled_waiter_passes_its_slot_on() -> None:
    """A timed-out wait is refused and leaves the line; a waiter cancelled just as the slot
    is handed to it passes the slot to the next one instead of losing it."""

    async def scenario() -> None:
        gate = ConcurrencyGate(limit=1, queue=3)
        assert gate.try_enter()
        assert await gate.enter(0.02) is False
        assert gate.rejected == 1 and gate.waiting == 0
        first = asyncio.create_task(gate.enter(None))
        second = asyncio.create_task(gate.enter(None))
        await asyncio.sleep(0)
        gate.leave()  # hands the slot to `first`, which is cancelled before it runs
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        assert await second is True
        assert gate.active == 1 and gate.waiting == 0
        gate.leave()
        assert gate.active == 0

    asyncio.run(scenario())


def test_inflight_wakes_every_waiter_when_idle() -> None:
    """Two shutdown waiters both learn that the last request left."""

    async def scenario() -> None:
        inflight = InFlight()
        inflight.enter()
        waits = [asyncio.create_task(inflight.wait_idle(1.0)) for _ in range(2)]
        await asyncio.sleep(0.01)
        inflight.leave()
        assert await asyncio.gather(*waits) == [True, True]

    asyncio.run(scenario())


def test_deadlines_cancel_late_tasks_only_and_in_time() -> None:
    """Of three requests watched 0.1 s, the two still running are cancelled within the
    resolution of their deadline; the one that finished first is untouched."""

    async def scenario() -> None:
        deadlines = Deadlines(0.1, resolution_s=0.01)
        outcomes: dict[str, tuple[str, float]] = {}

        async def request(name: str, work_s: float) -> None:
            task = asyncio.current_task()
            assert task is not None
            started = time.monotonic()
            deadlines.watch(task)
            try:
                await asyncio.sleep(work_s)
                outcomes[name] = ("done", time.monotonic() - started)
            except asyncio.CancelledError as exc:
                outcomes[name] = (str(exc.args[0] if exc.args else ""),
                                  time.monotonic() - started)
                task.uncancel()
            finally:
                fired = deadlines.unwatch(task)
                assert fired == (outcomes[name][0] != "done")

        await asyncio.gather(request("quick", 0.01), request("slow", 5), request("slower", 9))
        assert outcomes["quick"][0] == "done"
        for name in ("slow", "slower"):
            message, elapsed = outcomes[name]
            assert message == DEADLINE_MESSAGE
            assert 0.1 <= elapsed < 0.1 + 0.01 + 0.05  # resolution + scheduling slack
        assert deadlines.fired == 2 and deadlines.watched == 0

    asyncio.run(scenario())


def test_deadlines_reject_nonsense() -> None:
    with pytest.raises(ValueError, match="deadline_s and resolution_s > 0"):
        Deadlines(0)
