"""Watch the process' memory: RSS thresholds, pressure events, cleanups and tracemalloc diffs.

``sample()`` reads RSS (psutil, or an injected reader) and, while tracing, the
traced total, and turns it into a level: ``ok`` below ``warning_bytes``,
``warning`` below ``critical_bytes``, else ``critical``.  A change of level is
announced to ``on_pressure`` listeners (the task manager suspends work).  The
background loop (``start()``) runs the cleanup callbacks (drop caches, ...) after
every sample at warning or above; ``run_cleanups()`` runs them on demand.

``snapshot_diff()`` returns a tracemalloc top-N diff in the exact shape of
docs/run-directory.md ``memory/diff-NNNN.json``: allocation sites
(``file:line``, relative to the directory holding ``reference_impl`` when
possible) with their size and count and the change since the previous snapshot
(the first diff is against the baseline taken by ``start_tracing()``), each with
its traceback, most recent frame first.  ``gc.collect()`` runs before every
snapshot and importlib/tracemalloc frames are filtered out.  Sites that grew in
``growth_streak`` consecutive diffs are reported by ``growing_sites()``.

tracemalloc slows allocation-heavy code about 3x: it is off unless ``trace=True``
or a snapshot is asked for.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import inspect
import logging
import os
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

__all__ = ["MemoryMonitor"]

Cleanup = Callable[[], None | Awaitable[None]]
PressureListener = Callable[[str], None]
_LEVELS = ("ok", "warning", "critical")
_log = logging.getLogger(__name__)
_DEFAULT_ROOT = Path(__file__).resolve().parents[2]
_FILTERS = (
    tracemalloc.Filter(False, "<frozen importlib._bootstrap>"),
    tracemalloc.Filter(False, "<frozen importlib._bootstrap_external>"),
    tracemalloc.Filter(False, "<unknown>"),
    tracemalloc.Filter(False, tracemalloc.__file__),
    tracemalloc.Filter(False, "*/importlib/*"),
)


def _psutil_rss_reader() -> Callable[[], int]:
    import psutil

    process = psutil.Process(os.getpid())
    return lambda: int(process.memory_info().rss)


class MemoryMonitor:
    """RSS and tracemalloc sampling with thresholds, listeners and snapshot diffs."""

    def __init__(
        self,
        warning_bytes: int,
        critical_bytes: int,
        interval_s: float = 5.0,
        trace: bool = False,
        top_n: int = 20,
        *,
        rss_reader: Callable[[], int] | None = None,
        frames: int = 10,
        package_root: Path | None = None,
        growth_streak: int = 3,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 < warning_bytes <= critical_bytes:
            raise ValueError(f"MemoryMonitor needs 0 < warning_bytes <= critical_bytes, "
                             f"got {warning_bytes}, {critical_bytes}")
        self.warning_bytes = warning_bytes
        self.critical_bytes = critical_bytes
        self.interval_s = interval_s
        self.trace = trace
        self.top_n = top_n
        self.frames = frames
        self.growth_streak = growth_streak
        self._rss_reader = rss_reader
        self._root = (package_root or _DEFAULT_ROOT).resolve()
        self._clock = clock
        self._cleanups: list[Cleanup] = []
        self._listeners: list[PressureListener] = []
        self._task: asyncio.Task[None] | None = None
        self._level = "ok"
        self._last: dict[str, Any] = {}
        self._started_tracing = False
        self._trace_t0: float | None = None
        self._previous: tracemalloc.Snapshot | None = None
        self._streaks: dict[str, int] = {}
        self._paths: dict[str, str] = {}
        self.warnings_total = 0
        self.samples_total = 0
        self.cleanups_total = 0
        self.peak_rss_bytes = 0

    # -- sampling ------------------------------------------------------------------------

    def _read_rss(self) -> int:
        if self._rss_reader is None:
            self._rss_reader = _psutil_rss_reader()
        return self._rss_reader()

    def level_for(self, rss_bytes: int) -> str:
        if rss_bytes >= self.critical_bytes:
            return "critical"
        if rss_bytes >= self.warning_bytes:
            return "warning"
        return "ok"

    def sample(self) -> dict[str, Any]:
        """Read memory now; announce a level change; return rss, traced bytes and level."""
        rss = self._read_rss()
        traced, traced_peak = tracemalloc.get_traced_memory() if tracemalloc.is_tracing() else (0, 0)
        level = self.level_for(rss)
        self.samples_total += 1
        self.peak_rss_bytes = max(self.peak_rss_bytes, rss)
        previous, self._level = self._level, level
        if _LEVELS.index(level) > _LEVELS.index(previous):
            self.warnings_total += 1
        if level != previous:
            self._announce(level)
        self._last = {"rss_bytes": rss, "traced_bytes": traced, "traced_peak_bytes": traced_peak,
                      "level": level, "t": self._clock()}
        return dict(self._last)

    @property
    def level(self) -> str:
        return self._level

    def last_sample(self) -> dict[str, Any]:
        return dict(self._last)

    def add_cleanup(self, callback: Cleanup) -> None:
        """Run ``callback()`` (sync or async) after every background sample at warning or above."""
        self._cleanups.append(callback)

    def on_pressure(self, callback: PressureListener) -> None:
        """Call ``callback(level)`` whenever the level changes (including back to ok)."""
        self._listeners.append(callback)

    def _announce(self, level: str) -> None:
        for listener in list(self._listeners):
            try:
                listener(level)
            except Exception:
                _log.exception("memory pressure listener %r failed", listener)

    async def run_cleanups(self) -> int:
        """Run every cleanup callback once; a failing one is logged and skipped."""
        ran = 0
        for cleanup in list(self._cleanups):
            try:
                result = cleanup()
                if inspect.isawaitable(result):
                    await result
                ran += 1
            except Exception:
                _log.exception("memory cleanup %r failed", cleanup)
        self.cleanups_total += ran
        return ran

    async def start(self) -> None:
        """Start sampling every ``interval_s`` (and tracing, when ``trace``)."""
        if self.trace:
            self.start_tracing()
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._loop(), name="memory-monitor")

    async def stop(self) -> None:
        """Stop sampling, and tracing if this monitor started it."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.stop_tracing()

    async def _loop(self) -> None:
        while True:
            try:
                if self.sample()["level"] != "ok":
                    await self.run_cleanups()
            except Exception:
                _log.exception("memory sample failed")
            await asyncio.sleep(self.interval_s)

    # -- tracemalloc ---------------------------------------------------------------------

    def start_tracing(self) -> None:
        """Start tracemalloc (if off) and take the baseline snapshot the first diff compares to."""
        if not tracemalloc.is_tracing():
            tracemalloc.start(self.frames)
            self._started_tracing = True
        self._trace_t0 = self._clock()
        self._streaks.clear()
        self._previous = self._take()

    def stop_tracing(self) -> None:
        """Stop tracemalloc if this monitor started it; forget snapshots."""
        if self._started_tracing and tracemalloc.is_tracing():
            tracemalloc.stop()
        self._started_tracing = False
        self._previous = None

    @staticmethod
    def _take() -> tracemalloc.Snapshot:
        gc.collect()
        return tracemalloc.take_snapshot().filter_traces(_FILTERS)

    def _site(self, frame: tracemalloc.Frame) -> str:
        path = self._paths.get(frame.filename)
        if path is None:
            path = frame.filename
            with contextlib.suppress(ValueError, OSError):
                path = Path(path).resolve().relative_to(self._root).as_posix()
            self._paths[frame.filename] = path
        return f"{path}:{frame.lineno}"

    def snapshot_diff(self, top_n: int | None = None) -> dict[str, Any]:
        """Top-N allocation sites by growth since the previous snapshot (run-directory shape)."""
        if self._previous is None:
            self.start_tracing()
        assert self._previous is not None and self._trace_t0 is not None
        current = self._take()
        limit = top_n or self.top_n
        diffs = current.compare_to(self._previous, "lineno")
        self._update_streaks(diffs)
        biggest_tb = self._biggest_traceback_by_site(current, diffs[:limit])
        top = []
        for stat in diffs[:limit]:
            site = self._site(stat.traceback[-1])
            top.append({"site": site, "size_bytes": stat.size, "size_diff_bytes": stat.size_diff,
                        "count": stat.count, "count_diff": stat.count_diff,
                        "traceback": biggest_tb.get(site, [site])})
        result = {
            "t_s": round(self._clock() - self._trace_t0, 6),
            "total_bytes": sum(stat.size for stat in diffs),
            "total_diff_bytes": sum(stat.size_diff for stat in diffs),
            "top": top,
        }
        self._previous = current
        return result

    def _biggest_traceback_by_site(self, snapshot: tracemalloc.Snapshot,
                                   top: list[tracemalloc.StatisticDiff]) -> dict[str, list[str]]:
        """For each top site, the frames (most recent first) of its largest call path."""
        wanted = {(stat.traceback[-1].filename, stat.traceback[-1].lineno) for stat in top}
        sizes: dict[tracemalloc.Traceback, int] = {}
        for trace in snapshot.traces:  # one pass; Snapshot.statistics would group everything
            frame = trace.traceback[-1]
            if (frame.filename, frame.lineno) in wanted:
                sizes[trace.traceback] = sizes.get(trace.traceback, 0) + trace.size
        best: dict[str, tuple[int, tracemalloc.Traceback]] = {}
        for traceback, size in sizes.items():
            site = self._site(traceback[-1])
            if site not in best or size > best[site][0]:
                best[site] = (size, traceback)
        return {site: [self._site(frame) for frame in reversed(traceback)]
                for site, (_, traceback) in best.items()}

    def _update_streaks(self, diffs: list[tracemalloc.StatisticDiff]) -> None:
        grown = {self._site(s.traceback[-1]) for s in diffs if s.size_diff > 0}
        self._streaks = {site: self._streaks.get(site, 0) + 1 for site in grown}

    def growing_sites(self) -> list[str]:
        """Sites that grew in at least ``growth_streak`` consecutive diffs (leak suspects)."""
        return sorted(s for s, n in self._streaks.items() if n >= self.growth_streak)
