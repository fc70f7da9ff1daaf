"""Task manager on a real event loop: priorities, the queue bound, the concurrency limit,
timeouts, retries, suspension (by hand, by memory pressure, by budget) and cancel-all."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from reference_impl.resilience.errors import QueueFullError, TaskManagerClosedError
from reference_impl.resilience.retry import RetryPolicy
from reference_impl.resilience.task_manager import Priority, TaskManager

FAST_RETRY = RetryPolicy(max_attempts=3, base_s=0.001, cap_s=0.002)


async def _until(pred: Callable[[], bool], timeout_s: float = 5.0) -> None:
    """Wait (bounded) until ``pred()`` holds."""
    async with asyncio.timeout(timeout_s):
        while not pred():
            await asyncio.sleep(0.002)


def _run(coro: Awaitable[Any]) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 20))


def test_priorities_are_served_in_order() -> None:
    """With one worker, queued tasks run CRITICAL, HIGH, NORMAL, LOW, IDLE; FIFO within one."""
    order: list[str] = []

    async def scenario() -> None:
        tm = TaskManager(concurrency=1)
        tm.suspend()
        await tm.start()
        plan = [Priority.LOW, Priority.NORMAL, Priority.IDLE, Priority.CRITICAL,
                Priority.HIGH, Priority.NORMAL]
        ids = []
        for i, prio in enumerate(plan):
            async def job(label: str = f"{prio.name}-{i}") -> None:
                order.append(label)
            ids.append(tm.submit("job", job, prio))
        tm.resume()
        await _until(lambda: tm.metrics()["completed"] == len(plan))
        await tm.shutdown(1)

    _run(scenario())
    assert order == ["CRITICAL-3", "HIGH-4", "NORMAL-1", "NORMAL-5", "LOW-0", "IDLE-2"]


def test_full_queue_rejects_with_retry_after() -> None:
    """Beyond max_queue queued tasks submit raises QueueFullError (>= 1 s retry-after), counted."""
    async def scenario() -> TaskManager:
        tm = TaskManager(max_queue=3)
        for _ in range(3):
            tm.submit("flood", lambda: asyncio.sleep(0))
        with pytest.raises(QueueFullError) as info:
            tm.submit("flood", lambda: asyncio.sleep(0))
        assert info.value.retry_after_s >= 1.0
        assert info.value.max_queue == 3
        await tm.shutdown(1)
        return tm

    metrics = _run(scenario()).metrics()
    assert metrics["rejected"] == 1
    assert metrics["by_name"]["flood"]["rejected"] == 1
    assert metrics["cancelled"] == 3


def test_concurrency_limit_holds() -> None:
    """12 tasks with concurrency 3: never more than 3 run at once, and 3 do run together."""
    running = peak = 0

    async def scenario() -> None:
        nonlocal running, peak
        tm = TaskManager(concurrency=3)
        await tm.start()

        async def job() -> None:
            nonlocal running, peak
            running += 1
            peak = max(peak, running)
            await asyncio.sleep(0.01)
            running -= 1

        for _ in range(12):
            tm.submit("job", job)
        await _until(lambda: tm.metrics()["completed"] == 12)
        await tm.shutdown(1)

    _run(scenario())
    assert peak == 3


def test_timeout_marks_the_task_timed_out() -> None:
    """A task longer than its timeout is stopped and recorded as timed_out (no retries here)."""
    async def scenario() -> dict[str, Any]:
        tm = TaskManager(retries=0)
        await tm.start()
        task_id = tm.submit("slow", lambda: asyncio.sleep(30), timeout_s=0.05)
        await _until(lambda: tm.status(task_id)["state"] == "timed_out")  # type: ignore[index]
        status = tm.status(task_id)
        assert tm.metrics()["timed_out"] == 1
        await tm.shutdown(1)
        return status  # type: ignore[return-value]

    status = _run(scenario())
    assert "timed out after 0.05s" in status["error"]
    assert status["attempts"] == 1


def test_failures_are_retried_then_succeed() -> None:
    """A task failing twice then succeeding is retried (retries=2) and completes on attempt 3."""
    attempts = 0

    async def flaky() -> str:
        nonlocal attempts
        attempts += 1
        if attempts < 3:
            raise ConnectionResetError("transient")
        return "done"

    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        tm = TaskManager(retries=2, retry_policy=FAST_RETRY)
        await tm.start()
        task_id = tm.submit("flaky", flaky)
        await _until(lambda: tm.status(task_id)["state"] == "completed")  # type: ignore[index]
        out = tm.status(task_id), tm.metrics()
        await tm.shutdown(1)
        return out  # type: ignore[return-value]

    status, metrics = _run(scenario())
    assert (status["attempts"], status["result"]) == (3, "done")
    assert metrics["retried"] == 2 and metrics["completed"] == 1


def test_exhausted_retries_fail_and_report_once() -> None:
    """A task that always fails ends failed after 1 + retries attempts; on_error is called once."""
    errors: list[tuple[str, str]] = []

    async def broken() -> None:
        raise ValueError("always")

    async def scenario() -> dict[str, Any]:
        tm = TaskManager(retries=2, retry_policy=FAST_RETRY,
                         on_error=lambda name, exc: errors.append((name, str(exc))))
        await tm.start()
        task_id = tm.submit("broken", broken)
        await _until(lambda: tm.status(task_id)["state"] == "failed")  # type: ignore[index]
        await tm.shutdown(1)
        return tm.status(task_id)  # type: ignore[return-value]

    status = _run(scenario())
    assert status["attempts"] == 3
    assert status["error"] == "ValueError: always"
    assert errors == [("broken", "always")]


def test_suspend_and_resume() -> None:
    """While suspended nothing starts; resume() starts the queued work."""
    ran: list[int] = []

    async def scenario() -> None:
        tm = TaskManager()
        await tm.start()
        tm.suspend()

        async def job() -> None:
            ran.append(1)

        for _ in range(3):
            tm.submit("job", job)
        await asyncio.sleep(0.05)
        assert ran == [] and tm.metrics()["queued"] == 3 and tm.suspended
        tm.resume()
        await _until(lambda: len(ran) == 3)
        await tm.shutdown(1)

    _run(scenario())


def test_memory_pressure_levels_gate_priorities() -> None:
    """warning: LOW/IDLE wait, NORMAL runs; critical: only CRITICAL runs; ok: everything."""
    ran: list[str] = []

    async def scenario() -> None:
        tm = TaskManager()
        await tm.start()

        def job(label: str) -> Callable[[], Awaitable[None]]:
            async def run() -> None:
                ran.append(label)
            return run

        tm.on_memory_pressure("warning")
        tm.submit("low", job("low"), Priority.LOW)
        tm.submit("normal", job("normal"), Priority.NORMAL)
        await _until(lambda: "normal" in ran)
        tm.on_memory_pressure("critical")
        tm.submit("high", job("high"), Priority.HIGH)
        tm.submit("critical", job("critical"), Priority.CRITICAL)
        await _until(lambda: "critical" in ran)
        await asyncio.sleep(0.02)
        assert ran == ["normal", "critical"]
        tm.on_memory_pressure("ok")
        await _until(lambda: len(ran) == 4)
        await tm.shutdown(1)

    _run(scenario())
    assert ran[2:] == ["high", "low"]


def test_memory_budget_holds_dispatch() -> None:
    """Over the memory budget no task starts; once under it, queued tasks run."""
    rss = [2_000]
    ran: list[int] = []

    async def scenario() -> None:
        tm = TaskManager(memory_budget_bytes=1_000, memory_reader=lambda: rss[0])
        await tm.start()

        async def job() -> None:
            ran.append(1)

        tm.submit("job", job)
        await asyncio.sleep(0.15)
        assert ran == []
        rss[0] = 500
        await _until(lambda: ran == [1])
        await tm.shutdown(1)

    _run(scenario())


def test_shutdown_cancels_everything_and_counts() -> None:
    """shutdown() cancels 2 running, 3 queued and 1 retrying task, says 6, and refuses more."""
    async def scenario() -> tuple[int, TaskManager, list[str]]:
        tm = TaskManager(concurrency=2, retries=1,
                         retry_policy=RetryPolicy(max_attempts=2, base_s=30, cap_s=30))
        await tm.start()

        async def boom() -> None:
            raise ConnectionError("retry me later")

        retrying = tm.submit("boom", boom, Priority.CRITICAL)
        await _until(lambda: tm.status(retrying)["state"] == "retrying")  # type: ignore[index]
        ids = [tm.submit("sleep", lambda: asyncio.sleep(30)) for _ in range(5)]
        await _until(lambda: tm.metrics()["running"] == 2)
        cancelled = await tm.shutdown(timeout_s=2)
        with pytest.raises(TaskManagerClosedError):
            tm.submit("late", lambda: asyncio.sleep(0))
        return cancelled, tm, [tm.status(i)["state"] for i in [retrying, *ids]]  # type: ignore[index]

    cancelled, tm, states = _run(scenario())
    assert cancelled == 6
    assert states == ["cancelled"] * 6
    metrics = tm.metrics()
    assert (metrics["running"], metrics["queued"], metrics["retrying"]) == (0, 0, 0)
    assert metrics["cancelled"] == 6


def test_finished_records_are_bounded() -> None:
    """Only keep_finished finished records stay queryable: no leak over a long run."""
    async def scenario() -> tuple[TaskManager, list[str]]:
        tm = TaskManager(keep_finished=5, concurrency=4, rng=random.Random(0))
        await tm.start()
        ids = [tm.submit("job", lambda: asyncio.sleep(0)) for _ in range(20)]
        await _until(lambda: tm.metrics()["completed"] == 20)
        await tm.shutdown(1)
        return tm, ids

    tm, ids = _run(scenario())
    assert tm.status(ids[0]) is None
    assert tm.status(ids[-1])["state"] == "completed"
    assert tm.status("t999") is None


def test_constructor_validation() -> None:
    """Nonsense limits are refused with their values."""
    with pytest.raises(ValueError, match="max_queue"):
        TaskManager(max_queue=0)


def test_shutdown_right_after_dispatch_leaves_nothing_running() -> None:
    """A task dispatched but not yet stepped when shutdown cancels it is still accounted
    as cancelled (no phantom 'running' entry survives shutdown)."""
    async def scenario() -> tuple[int, dict[str, Any], dict[str, Any] | None]:
        tm = TaskManager(concurrency=2)
        await tm.start()
        task_id = tm.submit("job", lambda: asyncio.sleep(30))
        await asyncio.sleep(0)  # the dispatcher creates the runner; it has not run yet
        assert tm.metrics()["running"] == 1
        cancelled = await tm.shutdown(1)
        return cancelled, tm.metrics(), tm.status(task_id)

    cancelled, metrics, status = _run(scenario())
    assert cancelled == 1
    assert metrics["running"] == 0 and metrics["cancelled"] == 1
    assert status is not None and status["state"] == "cancelled"


def test_broken_memory_reader_does_not_stop_dispatch(caplog: pytest.LogCaptureFixture) -> None:
    """A memory reader that raises is logged and ignored: tasks still run."""
    def broken_reader() -> int:
        raise OSError("no /proc")

    async def scenario() -> dict[str, Any]:
        tm = TaskManager(memory_budget_bytes=1, memory_reader=broken_reader)
        await tm.start()
        task_id = tm.submit("job", lambda: asyncio.sleep(0, result="ran"))
        await _until(lambda: tm.status(task_id)["state"] == "completed")  # type: ignore[index]
        await tm.shutdown(1)
        return tm.status(task_id)  # type: ignore[return-value]

    assert _run(scenario())["result"] == "ran"
    assert "memory reader failed" in caplog.text
