"""The observer: one sample per tick into ``samples.jsonl``, memory diffs into ``memory/``.

It runs an asyncio loop in its own thread, so the conductor's work never delays
a tick and a tick never waits on the conductor. Each tick runs every sampler at
once, each under its own timeout (HTTP and Postgres 0.5 s, psutil and the log
scan in worker threads), so a frozen app or a frozen Postgres costs that tick
only the missing fields, never its schedule: tick k is due at
``t0 + (k0 + k) * tick_s`` on a grid anchored at the run's zero (no drift). A
tick that falls more than one period behind (the host stalled) skips the
missed slots rather than bunching up. A sampler whose previous call is still
stuck in its worker thread is reported missing instead of being called again,
so stuck calls never pile up.

The pid and log callables are re-read every tick: the app and Postgres restart
during runs. Every line is flushed when written, so a run killed mid-way still
leaves every finished tick on disk.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import math
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, TypeVar

import httpx

from harness.clock import wall
from harness.observe.app_stats import extract_stats
from harness.observe.http_probe import AppProbe, ProbeResult, make_client
from harness.observe.memory_diffs import MemoryDiffs
from harness.observe.pg_activity import PgActivitySampler
from harness.observe.proc_sample import ProcessSampler
from harness.observe.proxy_conns import proxy_sockets_getter
from harness.observe.stderr_scan import StderrScanner
from harness.observe.targets import ObserveTargets
from harness.records import Sample
from harness.records.samples import STATS_FIELDS

__all__ = ["Observer"]

T = TypeVar("T")

_START_TIMEOUT_S = 5.0


def _read(getter: Callable[[], T | None]) -> T | None:
    """A target callable's value; one that raises counts as 'none right now'."""
    try:
        return getter()
    except Exception:  # noqa: BLE001 - a broken getter must not end the observer
        return None


class Observer:
    """Samples the targets every ``tick_s`` seconds until stopped.

    Construction has no side effects; :meth:`start` opens the files and starts
    the thread, :meth:`stop` ends it (bounded) and closes them. Timeouts per
    sampler are parameters so tests can shorten them; the defaults are the
    documented 0.5 s. ``raw_stats_every_s`` thins the raw stats body kept in each
    line (``app_stats``) to one per that many seconds, for day-long soaks; 0 keeps
    it on every tick. The figures extracted from it are kept on every tick.
    """

    def __init__(
        self,
        run_dir: Path,
        targets: ObserveTargets,
        *,
        t0_monotonic: float,
        tick_s: float = 1.0,
        memory_every_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        http_timeout_s: float = 0.5,
        pg_timeout_s: float = 0.5,
        proc_timeout_s: float = 0.5,
        memory_timeout_s: float = 10.0,
        raw_stats_every_s: float = 0.0,
    ) -> None:
        if tick_s <= 0 or memory_every_s <= 0:
            raise ValueError(
                f"tick_s and memory_every_s must be > 0, got {tick_s} and {memory_every_s}"
            )
        self.run_dir = Path(run_dir)
        self.targets = targets
        self.t0 = t0_monotonic
        self.tick_s = tick_s
        self.memory_every_s = memory_every_s
        self.clock = clock
        self.proc_timeout_s = proc_timeout_s
        self.raw_stats_every_s = raw_stats_every_s
        self._next_raw_stats = -math.inf
        self._probe = AppProbe(targets.app_url, http_timeout_s, targets.live_path,
                               targets.ready_path, targets.stats_path)
        self._http_timeout_s = http_timeout_s
        self._pg = (
            PgActivitySampler(targets.pg_dsn, targets.app_name, pg_timeout_s,
                              client_sockets=proxy_sockets_getter(targets.proxy_pid,
                                                                  targets.proxy_upstream))
            if targets.pg_dsn else None
        )
        self._memory = MemoryDiffs(
            self.run_dir / "memory", targets.app_url, targets.admin_token,
            t0_monotonic, clock, memory_timeout_s,
        )
        self._app_proc = ProcessSampler()
        self._pg_proc = ProcessSampler()
        self._scanner = StderrScanner(unhandled_error_patterns=targets.unhandled_error_patterns)
        self._pending: dict[str, concurrent.futures.Future[Any]] = {}
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._started = threading.Event()
        self._client: httpx.AsyncClient | None = None
        self._out: IO[str] | None = None
        self._last: dict[str, object] | None = None
        self._next_memory: float | None = None
        self._memory_armed = False
        self._memory_grace_s = 0.0
        self._memory_task: asyncio.Task[Any] | None = None
        self.ticks = 0
        self._tick_errors = 0
        self._last_tick_error: str | None = None
        self._missing_counts: dict[str, int] = {}
        self._max_lag_ms = 0.0
        self.error: BaseException | None = None

    # -- public --------------------------------------------------------------------

    @property
    def last_sample(self) -> dict[str, object] | None:
        """The most recent sample written (as in samples.jsonl), or ``None``."""
        return self._last

    def summary(self) -> dict[str, Any]:
        """What the observer did, for run.json: ticks, per-sampler missing counts, memory calls."""
        return {
            "ticks": self.ticks,
            "tick_s": self.tick_s,
            "missing": dict(sorted(self._missing_counts.items())),
            "max_lag_ms": round(self._max_lag_ms, 1),
            "memory_diffs": self._memory.written,
            "memory_baseline": self._memory.has_baseline,
            "memory_failed": self._memory.failed,
            "memory_in_flight": self._memory_task is not None and not self._memory_task.done(),
            "stderr_unhandled": self._scanner.total_or_none,
            "tick_errors": self._tick_errors,
            "last_tick_error": self._last_tick_error,
            "error": repr(self.error) if self.error is not None else None,
        }

    def start(self) -> None:
        """Open ``samples.jsonl`` (append) and start sampling; returns once the loop runs."""
        if self._thread is not None:
            raise RuntimeError("Observer.start called twice")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._out = (self.run_dir / "samples.jsonl").open("a", encoding="utf-8")
        self._executor = concurrent.futures.ThreadPoolExecutor(4, thread_name_prefix="observe")
        self._thread = threading.Thread(target=self._thread_main, name="observer", daemon=True)
        self._thread.start()
        if not self._started.wait(_START_TIMEOUT_S):
            raise RuntimeError(f"observer loop did not start within {_START_TIMEOUT_S}s")
        if self.error is not None:
            raise RuntimeError(f"observer loop failed at start: {self.error!r}") from self.error

    def stop(self, timeout_s: float = 5.0) -> bool:
        """Stop sampling, join the thread (bounded), flush and close. True if it ended in time."""
        thread, loop, event = self._thread, self._loop, self._stop_event
        if thread is None:
            return True
        # an in-flight memory diff may finish within most of the budget (snapshots are slow)
        self._memory_grace_s = max(0.0, timeout_s - 1.0)
        if loop is not None and event is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop already finished
                loop.call_soon_threadsafe(event.set)
        thread.join(timeout_s)
        ended = not thread.is_alive()
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
        return ended

    def baseline_memory(self, timeout_s: float | None = None) -> dict[str, Any] | None:
        """Take the baseline tracemalloc snapshot now (call it after warm-up).

        Periodic diffs start only after this call, ``memory_every_s`` apart (none are
        taken during warm-up). Returns the hook's answer, or ``None`` when chaos hooks
        are off, the observer is not running, or the call failed (recorded in
        ``memory/failed.jsonl``; the next scheduled call then takes the baseline).
        """
        loop = self._loop
        if not self.targets.chaos_hooks or loop is None or self._thread is None:
            return None
        limit = (timeout_s or self._memory.timeout_s) + 1.0
        self._memory_armed = True
        coro = self._take_memory()
        try:
            future = asyncio.run_coroutine_threadsafe(coro, loop)
        except RuntimeError:  # the loop has already ended
            coro.close()
            return None
        try:
            return future.result(limit)
        except (concurrent.futures.TimeoutError, concurrent.futures.CancelledError):
            future.cancel()
            return None

    # -- the loop ------------------------------------------------------------------

    def _thread_main(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # noqa: BLE001 - kept for the conductor to report
            self.error = exc
        finally:
            self._started.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop_event = asyncio.Event()
        self._client = make_client(self._http_timeout_s)
        self._next_memory = self.clock() + self.memory_every_s
        self._started.set()
        try:
            await self._schedule()
        finally:
            await self._finish_memory_task()
            await self._client.aclose()
            if self._pg is not None:
                await self._pg.close()
            if self._out is not None:
                with contextlib.suppress(OSError):
                    self._out.close()  # flushes; the thread owns the file from start() on

    async def _schedule(self) -> None:
        assert self._stop_event is not None
        # the first slot: the current one if it began less than a tenth of a tick ago
        slot = max(0, math.ceil((self.clock() - self.t0) / self.tick_s - 0.1))
        while not self._stop_event.is_set():
            due = self.t0 + slot * self.tick_s
            delay = due - self.clock()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop_event.wait(), delay)
                if self._stop_event.is_set():
                    break
            now = self.clock()
            # a stall (host paused) skips the slots it swallowed instead of bunching up
            slot = max(slot, int((now - self.t0) / self.tick_s + 1e-9))
            try:
                self._write(await self._tick(now, slot))
            except Exception as exc:  # noqa: BLE001 - one bad tick (disk full, a bug) is not the end
                self._tick_errors += 1
                self._last_tick_error = f"{type(exc).__name__}: {exc}"
            self._maybe_take_memory()
            slot += 1

    def _write(self, sample: Sample) -> None:
        assert self._out is not None
        line = sample.to_json()
        self._out.write(json.dumps(line, separators=(",", ":"), default=str) + "\n")
        self._out.flush()
        self._last = line
        self.ticks += 1
        self._max_lag_ms = max(self._max_lag_ms, sample.lag_ms or 0.0)
        for name in sample.missing:
            self._missing_counts[name] = self._missing_counts.get(name, 0) + 1

    # -- one tick ------------------------------------------------------------------

    async def _tick(self, now: float, slot: int) -> Sample:
        """Run every sampler at once; each fills its fields or names itself missing."""
        assert self._client is not None
        targets = self.targets
        app_pid, pg_pid, log = _read(targets.app_pid), _read(targets.pg_pid), _read(targets.app_log)
        missing: list[str] = []
        probe, app_proc, pg_proc, pg_conn, stderr = await asyncio.gather(
            self._app_http(),
            self._in_thread("app_proc", missing, self._app_proc.sample, app_pid)
            if app_pid else _none(),
            self._in_thread("pg_proc", missing, self._pg_proc.sample, pg_pid, with_children=True)
            if pg_pid else _none(),
            self._pg_connections(missing),
            self._in_thread("stderr_unhandled", missing, self._scanner.scan, log)
            if log else _none(),
        )
        missing[:0] = probe.missing
        stats = {k: probe.fields.get(k) for k in STATS_FIELDS}
        return Sample(
            t_s=round(now - self.t0, 4), wall=wall(), tick=slot,
            lag_ms=round((now - (self.t0 + slot * self.tick_s)) * 1000, 1),
            sample_ms=round((self.clock() - now) * 1000, 1), missing=missing,
            ready=probe.fields.get("ready"), live=probe.fields.get("live"), **stats,
            stderr_unhandled=stderr if log else self._scanner.total_or_none,
            app_proc=app_proc, pg_proc=pg_proc, pg_connections=pg_conn,
            app_stats=self._raw_stats(now, probe.fields.get("app_stats")),
        )

    def _raw_stats(self, now: float, body: Any) -> Any:
        """The raw stats body, or ``None`` on ticks thinned out by ``raw_stats_every_s``."""
        if body is None or self.raw_stats_every_s <= 0:
            return body
        if now < self._next_raw_stats:
            return None
        self._next_raw_stats = now + self.raw_stats_every_s - self.tick_s / 2
        return body

    async def _app_http(self) -> ProbeResult:
        assert self._client is not None
        try:
            return await self._probe.probe(self._client)
        except Exception:  # noqa: BLE001 - e.g. a malformed URL: record, never end the observer
            return ProbeResult(fields=extract_stats(None) | {"ready": None, "live": None,
                                                             "app_stats": None},
                               missing=["live", "ready", "app_stats"])

    async def _in_thread(
        self, name: str, missing: list[str], fn: Callable[..., T], *args: Any, **kwargs: Any
    ) -> T | None:
        """``fn`` in a worker thread under the proc timeout; ``None`` + missing if it overruns.

        While an earlier call of the same sampler is still stuck, it is not called again.
        """
        assert self._executor is not None
        pending = self._pending.get(name)
        if pending is not None and not pending.done():
            missing.append(name)
            return None
        try:
            future = self._executor.submit(fn, *args, **kwargs)
            self._pending[name] = future
            return await asyncio.wait_for(asyncio.wrap_future(future), self.proc_timeout_s)
        except Exception:  # noqa: BLE001 - timed out, file gone, process unreadable: no figure
            missing.append(name)
            return None

    async def _pg_connections(self, missing: list[str]) -> dict[str, Any] | None:
        if self._pg is None:
            return None
        try:
            return await self._pg.sample()
        except Exception:  # noqa: BLE001 - down, restarting or frozen: this tick has no figure
            missing.append("pg_connections")
            return None

    # -- memory --------------------------------------------------------------------

    async def _take_memory(self) -> dict[str, Any] | None:
        assert self._client is not None
        diff = await self._memory.take(self._client)
        self._next_memory = self.clock() + self.memory_every_s
        return diff

    async def _finish_memory_task(self) -> None:
        """Let an in-flight memory diff finish within the stop grace, then cancel it."""
        task = self._memory_task
        if task is None or task.done():
            return
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(asyncio.shield(task), self._memory_grace_s)
        if not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task

    def _maybe_take_memory(self) -> None:
        """Start a memory diff in the background when one is due and none is running."""
        if not self.targets.chaos_hooks or not self._memory_armed or self._next_memory is None:
            return
        if self.clock() < self._next_memory:
            return
        if self._memory_task is not None and not self._memory_task.done():
            return
        self._next_memory += self.memory_every_s
        self._memory_task = asyncio.get_running_loop().create_task(self._take_memory())


async def _none() -> None:
    return None

