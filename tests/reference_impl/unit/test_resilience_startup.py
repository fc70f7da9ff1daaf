"""Startup graph: nothing before its dependencies, independent services in parallel,
retries, critical vs optional (degraded), deadlines, validation and reverse-order stop."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from reference_impl.resilience.errors import StartupError
from reference_impl.resilience.retry import RetryPolicy
from reference_impl.resilience.startup import Service, ServiceGraph

FAST = RetryPolicy(1, base_s=0.001, cap_s=0.002)


def _sleeper(seconds: float, log: list[str] | None = None, label: str = ""
             ) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        await asyncio.sleep(seconds)
        if log is not None:
            log.append(label)
    return run


def _flaky(failures: int, exc: type[Exception] = ConnectionRefusedError
           ) -> tuple[Callable[[], Awaitable[None]], list[int]]:
    calls = [0]

    async def run() -> None:
        calls[0] += 1
        if calls[0] <= failures:
            raise exc(f"attempt {calls[0]}")
    return run, calls


def _times(graph: ServiceGraph, event: str) -> dict[str, float]:
    return {e["service"]: e["t"] for e in graph.events if e["event"] == event}


def _run(coro: Awaitable[Any]) -> Any:
    async def bounded() -> Any:
        async with asyncio.timeout(20):
            return await coro
    return asyncio.run(bounded())


def test_dependency_order_and_parallel_start() -> None:
    """config -> (database, memory) -> tasks: database and memory start together (their
    starts overlap), and tasks starts only after both are up."""
    graph = ServiceGraph([
        Service("tasks", _sleeper(0.01), deps=("database", "memory")),
        Service("database", _sleeper(0.05), deps=("config",)),
        Service("memory", _sleeper(0.05), deps=("config",)),
        Service("config", _sleeper(0.01)),
    ])
    _run(graph.start_all())
    starting, up = _times(graph, "starting"), _times(graph, "up")
    assert graph.ready and set(graph.states().values()) == {"up"}
    assert starting["database"] >= up["config"] and starting["memory"] >= up["config"]
    assert starting["memory"] < up["database"] and starting["database"] < up["memory"]
    assert starting["tasks"] >= max(up["database"], up["memory"])
    assert graph.order.index("config") < graph.order.index("tasks")


def test_parallel_start_takes_the_longest_not_the_sum() -> None:
    """Five independent 0.1 s starts finish in well under 5 x 0.1 s."""
    graph = ServiceGraph([Service(f"s{i}", _sleeper(0.1)) for i in range(5)])
    began = time.monotonic()
    _run(graph.start_all())
    assert time.monotonic() - began < 0.35


def test_critical_service_retries_until_it_comes_up() -> None:
    """A critical service failing 4 times (database down at boot) retries and comes up;
    its dependents wait for it."""
    start_db, calls = _flaky(4)
    graph = ServiceGraph([Service("database", start_db, backoff=FAST),
                          Service("routes", _sleeper(0), deps=("database",))],
                         rng=random.Random(1))
    _run(graph.start_all())
    assert calls[0] == 5
    assert graph.ready
    assert [e["event"] for e in graph.events if e["service"] == "database"].count("retry") == 4
    assert _times(graph, "starting")["routes"] >= _times(graph, "up")["database"]
    assert graph.snapshot()["database"]["attempts"] == 5
    assert graph.snapshot()["database"]["last_error"] is None


def test_optional_failure_degrades_and_dependents_still_start() -> None:
    """An optional service that keeps failing is degraded after its retries; the app
    (whose dependent services still start) is ready."""
    broken, calls = _flaky(100, RuntimeError)
    graph = ServiceGraph([
        Service("metrics", broken, critical=False, retries=2, backoff=FAST),
        Service("routes", _sleeper(0), deps=("metrics",)),
    ])
    _run(graph.start_all())
    assert calls[0] == 3
    assert graph.states() == {"metrics": "degraded", "routes": "up"}
    assert graph.ready
    assert graph.snapshot()["metrics"]["last_error"] == "RuntimeError: attempt 3"


def test_critical_failure_after_its_retries_raises() -> None:
    """A critical service with a finite retry count that keeps failing raises StartupError
    naming it; it is marked failed and its dependents never start."""
    broken, _ = _flaky(100)
    graph = ServiceGraph([Service("migrations", broken, retries=1, backoff=FAST),
                          Service("routes", _sleeper(0), deps=("migrations",))])
    with pytest.raises(StartupError, match="'migrations' failed after 2 attempts") as info:
        _run(graph.start_all())
    assert info.value.service == "migrations"
    assert isinstance(info.value.cause, ConnectionRefusedError)
    assert graph.states() == {"migrations": "failed", "routes": "pending"}
    assert not graph.ready


def test_deadline_stops_endless_retries() -> None:
    """A critical service that never comes up fails at the deadline, and the error names
    it with its last error; an optional one still pending is degraded."""
    broken, calls = _flaky(10**9)
    graph = ServiceGraph([
        Service("database", broken, backoff=FAST),
        Service("cache", _sleeper(30), critical=False),
    ])
    began = time.monotonic()
    with pytest.raises(StartupError, match=r"database: ConnectionRefusedError") as info:
        _run(graph.start_all(deadline=time.monotonic() + 0.2))
    assert 0.15 < time.monotonic() - began < 2.0
    assert info.value.service == "database"
    assert graph.states() == {"database": "failed", "cache": "degraded"}
    assert calls[0] > 1


def test_cancelling_start_all_cancels_the_retries() -> None:
    """Cancelling start_all (the app shutting down during boot) stops the retry loops."""
    broken, calls = _flaky(10**9)
    graph = ServiceGraph([Service("database", broken, backoff=FAST)])

    async def scenario() -> None:
        task = asyncio.create_task(graph.start_all())
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        seen = calls[0]
        await asyncio.sleep(0.05)
        assert calls[0] == seen

    _run(scenario())


def test_attempt_timeout_bounds_a_hanging_start() -> None:
    """A start that hangs is cut by attempt_timeout_s and retried (then degraded)."""
    graph = ServiceGraph([Service("probe", _sleeper(30), critical=False, retries=1,
                                  attempt_timeout_s=0.02, backoff=FAST)])
    _run(graph.start_all())
    assert graph.states() == {"probe": "degraded"}
    assert graph.snapshot()["probe"]["attempts"] == 2


def test_invalid_graphs_are_refused() -> None:
    """A cycle, an unknown dependency and a duplicate name are refused with the names."""
    noop = _sleeper(0)
    with pytest.raises(StartupError, match="cycle"):
        ServiceGraph([Service("a", noop, deps=("b",)), Service("b", noop, deps=("a",))])
    with pytest.raises(StartupError, match=r"'a' depends on unknown \['ghost'\]"):
        ServiceGraph([Service("a", noop, deps=("ghost",))])
    with pytest.raises(StartupError, match="duplicate"):
        ServiceGraph([Service("a", noop), Service("a", noop)])


def test_stop_all_runs_in_reverse_order_and_bounds_hangs() -> None:
    """Stops run dependents first (routes, tasks, database, config); a hanging stop is cut
    at the overall timeout and reported; degraded services are not stopped."""
    stopped: list[str] = []

    def stopper(name: str, hang: bool = False) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            stopped.append(name)
            if hang:
                await asyncio.sleep(30)
        return run

    broken, _ = _flaky(100)
    graph = ServiceGraph([
        Service("config", _sleeper(0), stop=stopper("config")),
        Service("database", _sleeper(0), stop=stopper("database"), deps=("config",)),
        Service("tasks", _sleeper(0), stop=stopper("tasks", hang=True), deps=("database",)),
        Service("routes", _sleeper(0), stop=stopper("routes"), deps=("tasks",)),
        Service("extras", broken, stop=stopper("extras"), critical=False, retries=0),
    ])

    async def scenario() -> list[str]:
        await graph.start_all()
        return await graph.stop_all(timeout_s=0.1)

    problems = _run(scenario())
    assert stopped[:2] == ["routes", "tasks"]
    assert "extras" not in stopped
    assert problems[0] == "tasks"
    assert graph.states()["routes"] == "stopped"
    stop_events = [e for e in graph.events if e["event"] == "stopping"]
    assert [e["service"] for e in stop_events] == ["routes", "tasks", "database", "config"]
