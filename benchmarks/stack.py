"""The seeds' performance claims for the resilience stack, each measured beside its claim.

Measured here (pure in-process, no I/O):

- circuit breaker overhead per call: ``allow()`` + ``record_success()`` on a
  closed breaker, and ``await breaker.call(fn)`` minus ``await fn()``
  (claim < 0.1 ms; goal < 10 us);
- task enqueue: ``TaskManager.submit()`` (claim < 1 ms; goal < 50 us);
- one memory-monitor ``sample()`` without and with tracemalloc running
  (claim < 1 ms), and a top-20 ``snapshot_diff()`` for information.

The figures that need a database or the app (health check, query through the
database manager, bootstrap to ready) come from the hook: if
``benchmarks/stack_app.py`` exists and defines ``measure() -> list[str]``
(markdown bullet lines), its lines are appended to this section.

Each figure is the median (and min) of 5 repeats of many calls, timed with
``time.perf_counter``; the machine may be shared, so the min is the better
estimate of the cost itself.

    .venv/bin/python benchmarks/stack.py
"""

from __future__ import annotations

import asyncio
import importlib
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._results import record_section  # noqa: E402
from reference_impl.resilience import (  # noqa: E402
    CircuitBreaker,
    MemoryMonitor,
    Priority,
    TaskManager,
)

SECTION = "Resilience stack (benchmarks/stack.py)"
REPEATS = 5
APP_HOOK = "benchmarks.stack_app"


def _per_call_us(run_batch: Callable[[int], float], calls: int) -> tuple[float, float]:
    """Median and min microseconds per call over REPEATS batches of ``calls``."""
    samples = [run_batch(calls) / calls * 1e6 for _ in range(REPEATS)]
    return statistics.median(samples), min(samples)


def breaker_sync_us(calls: int = 200_000) -> tuple[float, float]:
    """allow() + record_success() on a closed breaker."""
    breaker = CircuitBreaker("bench")

    def batch(n: int) -> float:
        allow, ok = breaker.allow, breaker.record_success
        began = time.perf_counter()
        for _ in range(n):
            allow()
            ok(0.001)
        return time.perf_counter() - began

    return _per_call_us(batch, calls)


def breaker_call_overhead_us(calls: int = 100_000) -> tuple[float, float]:
    """``await breaker.call(fn)`` minus ``await fn()``, per call, on one event loop."""
    breaker = CircuitBreaker("bench")

    async def noop() -> int:
        return 1

    async def timed(wrapped: bool, n: int) -> float:
        began = time.perf_counter()
        if wrapped:
            for _ in range(n):
                await breaker.call(noop)
        else:
            for _ in range(n):
                await noop()
        return time.perf_counter() - began

    async def batch_pair(n: int) -> float:
        return await timed(True, n) - await timed(False, n)

    return _per_call_us(lambda n: asyncio.run(batch_pair(n)), calls)


def enqueue_us(calls: int = 50_000) -> tuple[float, float]:
    """submit() into a started, suspended manager (so dispatch does not run in between)."""
    async def noop() -> None:
        return None

    async def batch(n: int) -> float:
        manager = TaskManager(max_queue=n + 1)
        await manager.start()
        manager.suspend()
        submit = manager.submit
        began = time.perf_counter()
        for _ in range(n):
            submit("bench", noop, Priority.NORMAL)
        elapsed = time.perf_counter() - began
        await manager.shutdown(1.0)
        return elapsed

    return _per_call_us(lambda n: asyncio.run(batch(n)), calls)


def sample_us(trace: bool, calls: int = 20_000) -> tuple[float, float]:
    """One MemoryMonitor.sample() with the real psutil RSS reader."""
    monitor = MemoryMonitor(2**62, 2**62)
    if trace:
        tracemalloc.start(10)
    try:
        def batch(n: int) -> float:
            began = time.perf_counter()
            for _ in range(n):
                monitor.sample()
            return time.perf_counter() - began

        return _per_call_us(batch, calls)
    finally:
        if trace:
            tracemalloc.stop()


def snapshot_diff_ms() -> float:
    """One top-20 snapshot diff with tracemalloc on (gc.collect + snapshot + compare)."""
    monitor = MemoryMonitor(2**62, 2**62)
    monitor.start_tracing()
    try:
        began = time.perf_counter()
        monitor.snapshot_diff(20)
        return (time.perf_counter() - began) * 1e3
    finally:
        monitor.stop_tracing()


def _verdict(value_us: float, goal_us: float) -> str:
    return "met" if value_us < goal_us else "NOT met"


def app_hook_lines() -> list[str]:
    """The database/health/bootstrap figures from ``benchmarks/stack_app.py``, if it exists."""
    try:
        module = importlib.import_module(APP_HOOK)
    except ModuleNotFoundError as exc:
        if exc.name != APP_HOOK:
            raise
        return ["- health check, query through the database manager, bootstrap to ready: "
                f"not measured (no `{APP_HOOK}` module yet)"]
    lines: list[str] = module.measure()
    return lines


def main() -> int:
    b_med, b_min = breaker_sync_us()
    c_med, c_min = breaker_call_overhead_us()
    e_med, e_min = enqueue_us()
    s_med, s_min = sample_us(trace=False)
    t_med, t_min = sample_us(trace=True)
    diff_ms = snapshot_diff_ms()
    lines = [
        f"- circuit breaker, allow + record_success (closed): **{b_med:.2f} us** per call "
        f"(min {b_min:.2f}); claim < 100 us, goal < 10 us: {_verdict(b_med, 10)}",
        f"- circuit breaker, `await breaker.call(fn)` minus `await fn()`: **{c_med:.2f} us** "
        f"per call (min {c_min:.2f}); goal < 10 us: {_verdict(c_med, 10)}",
        f"- task enqueue (`TaskManager.submit`): **{e_med:.2f} us** (min {e_min:.2f}); "
        f"claim < 1000 us, goal < 50 us: {_verdict(e_med, 50)}",
        f"- memory-monitor sample, tracemalloc off: **{s_med:.1f} us** (min {s_min:.1f}); "
        f"claim < 1000 us: {_verdict(s_med, 1000)}",
        f"- memory-monitor sample, tracemalloc on: **{t_med:.1f} us** (min {t_min:.1f}); "
        f"claim < 1000 us: {_verdict(t_med, 1000)}",
        f"- tracemalloc top-20 snapshot diff (gc.collect + snapshot + compare), for "
        f"information: {diff_ms:.0f} ms (only on the harness' request, never per sample)",
        *app_hook_lines(),
    ]
    print("\n".join(lines))
    record_section(SECTION, lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
