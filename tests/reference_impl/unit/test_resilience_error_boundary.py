"""Error boundary: classification, the four hooks (loop, sys, threading, unraisable),
one JSON line per recorded error, recovery handlers, the ring buffer and the rate."""

from __future__ import annotations

import asyncio
import gc
import io
import json
import sys
import threading
from typing import Any

import pytest
from asyncpg import exceptions as pg
from resilience_fakes import FakeClock

from reference_impl.resilience.error_boundary import ErrorBoundary
from reference_impl.resilience.errors import CircuitOpenError


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    """Every line of the stream, each of which must be one JSON object."""
    return [json.loads(line) for line in stream.getvalue().splitlines()]


@pytest.mark.parametrize(("exc", "expected"), [
    (pg.UndefinedColumnError("column node_id does not exist"), ("schema", "error")),
    (pg.TooManyConnectionsError("too many clients"), ("database", "warning")),
    (pg.UniqueViolationError("dup"), ("validation", "error")),
    (ConnectionRefusedError("refused"), ("network", "warning")),
    (TimeoutError(), ("timeout", "warning")),
    (MemoryError(), ("memory", "critical")),
    (CircuitOpenError("db", 3.0), ("database", "warning")),
    (ValueError("bad"), ("validation", "warning")),
    (KeyError("k"), ("unknown", "error")),
    (RuntimeError("bug"), ("unknown", "error")),
])
def test_classification(exc: BaseException, expected: tuple[str, str]) -> None:
    """Each error gets the class and severity the monitoring endpoint reports."""
    assert ErrorBoundary.classify(exc) == expected


def test_record_writes_one_json_line_with_escaped_traceback() -> None:
    """A recorded error is one line of JSON with the contract's keys; the traceback is inside it."""
    stream = io.StringIO()
    boundary = ErrorBoundary(stream=stream)
    try:
        raise ValueError("first line\nsecond line")
    except ValueError as exc:
        boundary.record(exc, "handler:/api/x", {"request_id": "r1"})
    assert len(stream.getvalue().splitlines()) == 1
    (line,) = _lines(stream)
    assert {k: line[k] for k in ("event", "class", "severity", "source", "type", "message")} == {
        "event": "unhandled_error", "class": "validation", "severity": "warning",
        "source": "handler:/api/x", "type": "ValueError", "message": "first line\nsecond line"}
    assert line["traceback"].startswith("Traceback (most recent call last):")
    assert "test_record_writes_one_json_line" in line["traceback"]
    assert line["context"] == {"request_id": "r1"}


def test_spawned_task_failure_is_recorded_and_the_loop_survives() -> None:
    """A background task raising via spawn() is recorded with its name; other tasks keep
    running, and nothing reaches the loop's default handler."""
    stream = io.StringIO()
    boundary = ErrorBoundary(stream=stream)

    async def explode() -> None:
        await asyncio.sleep(0)
        raise RuntimeError("task blew up")

    async def scenario() -> int:
        boundary.install()
        try:
            survivor = asyncio.create_task(asyncio.sleep(0.02, result=7))
            boundary.spawn(explode(), "plan-7")
            assert boundary.tasks_in_flight == 1
            value = await survivor
            await asyncio.sleep(0)
            return value
        finally:
            boundary.uninstall()

    assert asyncio.run(scenario()) == 7
    (line,) = _lines(stream)
    assert (line["source"], line["type"], line["message"]) == \
        ("task:plan-7", "RuntimeError", "task blew up")
    assert boundary.tasks_in_flight == 0
    assert boundary.counts()["by_source"] == {"task": 1}


def test_loop_exception_handler_records_callback_errors() -> None:
    """A callback raising inside the loop goes to the installed handler, not to stderr."""
    stream = io.StringIO()
    boundary = ErrorBoundary(stream=stream)

    def bad_callback() -> None:
        raise KeyError("in callback")

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        previous = loop.get_exception_handler()
        boundary.install(loop)
        loop.call_soon(bad_callback)
        await asyncio.sleep(0.01)
        boundary.uninstall()
        assert loop.get_exception_handler() is previous

    asyncio.run(scenario())
    (line,) = _lines(stream)
    assert (line["source"], line["type"], line["class"]) == ("asyncio", "KeyError", "unknown")


def test_thread_exception_is_recorded_and_hooks_are_restored() -> None:
    """A thread that raises is recorded as thread:<name>; uninstall puts every hook back."""
    stream = io.StringIO()
    boundary = ErrorBoundary(stream=stream)
    before = (sys.excepthook, threading.excepthook, sys.unraisablehook)

    def work() -> None:
        raise ConnectionResetError("peer reset")

    boundary.install()
    try:
        thread = threading.Thread(target=work, name="worker-1")
        thread.start()
        thread.join(5)
    finally:
        boundary.uninstall()
    assert (sys.excepthook, threading.excepthook, sys.unraisablehook) == before
    (line,) = _lines(stream)
    assert (line["source"], line["class"], line["severity"]) == ("thread:worker-1", "network",
                                                                 "warning")


def test_sys_excepthook_and_unraisable_are_recorded() -> None:
    """An uncaught main-thread error and an exception in __del__ are both recorded."""
    stream = io.StringIO()
    boundary = ErrorBoundary(stream=stream)

    class Leaky:
        def __del__(self) -> None:
            raise ValueError("in __del__")

    boundary.install()
    try:
        try:
            raise RuntimeError("uncaught")
        except RuntimeError as exc:
            sys.excepthook(type(exc), exc, exc.__traceback__)
        obj = Leaky()
        del obj
        gc.collect()
    finally:
        boundary.uninstall()
    sources = [line["source"] for line in _lines(stream)]
    assert sources == ["sys.excepthook", "unraisable"]


def test_install_twice_is_refused() -> None:
    """A second install without uninstall would lose the original hooks: refused."""
    boundary = ErrorBoundary(stream=io.StringIO())
    boundary.install()
    try:
        with pytest.raises(RuntimeError, match="twice"):
            boundary.install()
    finally:
        boundary.uninstall()


def test_recovery_handlers_run_and_a_broken_one_is_contained() -> None:
    """The handler for the class (and '*') gets the error; a failing handler is one log line."""
    stream = io.StringIO()
    boundary = ErrorBoundary(stream=stream)
    seen: list[str] = []
    boundary.register_recovery("schema", lambda exc, entry: seen.append(entry["class"]))
    boundary.register_recovery("*", lambda exc, entry: seen.append("any"))

    def broken(exc: BaseException, entry: dict[str, Any]) -> None:
        raise RuntimeError("recovery bug")

    boundary.register_recovery("schema", broken)
    boundary.record(pg.UndefinedColumnError("column node_id does not exist"), "handler")
    boundary.record(ValueError("x"), "handler")
    assert seen == ["schema", "any", "any"]
    events = [line["event"] for line in _lines(stream)]
    assert events == ["unhandled_error", "recovery_failed", "unhandled_error"]
    assert boundary.total == 2


def test_ring_buffer_recent_and_filters() -> None:
    """recent() is newest first, bounded by ring_size, filtered by class or type name."""
    boundary = ErrorBoundary(ring_size=3, stream=io.StringIO())
    for i in range(5):
        boundary.record(ValueError(f"v{i}") if i % 2 else TimeoutError(f"t{i}"), "test")
    assert [e["message"] for e in boundary.recent(10)] == ["t4", "v3", "t2"]
    assert [e["message"] for e in boundary.recent(10, type="ValueError")] == ["v3"]
    assert [e["message"] for e in boundary.recent(10, type="timeout")] == ["t4", "t2"]
    assert [e["message"] for e in boundary.recent(1)] == ["t4"]
    assert boundary.counts()["total"] == 5
    assert boundary.counts()["by_class"] == {"timeout": 3, "validation": 2}


def test_rate_per_minute_uses_the_last_60_seconds(clock: FakeClock) -> None:
    """Errors older than a minute drop out of the rate."""
    boundary = ErrorBoundary(stream=io.StringIO(), clock=clock)
    for _ in range(4):
        boundary.record(RuntimeError("x"), "test")
    clock.advance(30)
    boundary.record(RuntimeError("y"), "test")
    assert boundary.rate_per_minute() == 5.0
    clock.advance(31)
    assert boundary.rate_per_minute() == 1.0


def test_cancel_tasks_cancels_spawned_work() -> None:
    """cancel_tasks() cancels spawned tasks still running and says how many; none is recorded."""
    stream = io.StringIO()
    boundary = ErrorBoundary(stream=stream)

    async def scenario() -> int:
        for i in range(3):
            boundary.spawn(asyncio.sleep(30), f"sleeper-{i}")
        await asyncio.sleep(0)
        return await boundary.cancel_tasks(2.0)

    assert asyncio.run(scenario()) == 3
    assert boundary.tasks_in_flight == 0
    assert stream.getvalue() == ""
