"""Memory monitor: thresholds with an injected RSS reader, pressure events, cleanups, and a
real tracemalloc diff that names a planted allocation site."""

from __future__ import annotations

import asyncio
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from reference_impl.resilience.memory_monitor import MemoryMonitor

MB = 1024 * 1024
REPO_ROOT = Path(__file__).resolve().parents[3]
THIS_FILE = Path(__file__).resolve().relative_to(REPO_ROOT).as_posix()
_planted: list[bytes] = []


def _plant(n: int) -> None:
    """The planted allocation: ``n`` distinct 4 KiB objects kept alive."""
    for _ in range(n):
        _planted.append(bytes(4096))  # PLANTED-SITE


def _planted_line() -> int:
    lines = Path(__file__).read_text().splitlines()
    return next(i for i, text in enumerate(lines, 1) if text.endswith("# PLANTED-SITE"))


@pytest.fixture
def no_tracing() -> Iterator[None]:
    """These tests own tracemalloc: it must be off before and after."""
    assert not tracemalloc.is_tracing()
    yield
    _planted.clear()
    if tracemalloc.is_tracing():  # pragma: no cover - a failed test left it on
        tracemalloc.stop()


def test_levels_and_pressure_events() -> None:
    """ok < warning <= rss < critical <= rss; listeners hear only changes, warnings count rises."""
    rss = [50 * MB]
    heard: list[str] = []
    monitor = MemoryMonitor(100 * MB, 200 * MB, rss_reader=lambda: rss[0])
    monitor.on_pressure(heard.append)
    levels = []
    for value in (50, 100, 150, 250, 260, 150, 10, 120):
        rss[0] = value * MB
        levels.append(monitor.sample()["level"])
    assert levels == ["ok", "warning", "warning", "critical", "critical", "warning", "ok", "warning"]
    assert heard == ["warning", "critical", "warning", "ok", "warning"]
    assert monitor.warnings_total == 3  # escalations: ok->warning, warning->critical, ok->warning
    assert monitor.peak_rss_bytes == 260 * MB
    assert monitor.sample()["traced_bytes"] == 0


def test_failing_listener_does_not_stop_sampling() -> None:
    """A listener that raises is logged; the next listener still hears the level."""
    heard: list[str] = []
    monitor = MemoryMonitor(10, 20, rss_reader=lambda: 15)

    def broken(level: str) -> None:
        raise RuntimeError("listener bug")

    monitor.on_pressure(broken)
    monitor.on_pressure(heard.append)
    assert monitor.sample()["level"] == "warning"
    assert heard == ["warning"]


def test_background_loop_runs_cleanups_under_pressure() -> None:
    """start(): samples every interval; at warning the (sync and async) cleanups run."""
    rss = [5]
    cleaned: list[str] = []

    async def async_cleanup() -> None:
        cleaned.append("async")

    async def scenario() -> MemoryMonitor:
        monitor = MemoryMonitor(10, 20, interval_s=0.005, rss_reader=lambda: rss[0])
        monitor.add_cleanup(lambda: cleaned.append("sync"))
        monitor.add_cleanup(async_cleanup)
        await monitor.start()
        await asyncio.sleep(0.03)
        assert cleaned == []
        rss[0] = 15
        async with asyncio.timeout(5):
            while len(cleaned) < 2:
                await asyncio.sleep(0.005)
        await monitor.stop()
        return monitor

    monitor = asyncio.run(scenario())
    assert cleaned[:2] == ["sync", "async"]
    assert monitor.samples_total >= 2
    assert monitor.cleanups_total >= 2


def test_snapshot_diff_names_the_planted_site(no_tracing: None) -> None:
    """Planted 4 KiB objects show up as the top growing site, file:line relative to the repo,
    with the contract's keys, and the traceback starts at the site."""
    monitor = MemoryMonitor(10**12, 10**12, frames=8, package_root=REPO_ROOT)
    monitor.start_tracing()
    try:
        _plant(500)
        diff = monitor.snapshot_diff(top_n=5)
    finally:
        monitor.stop_tracing()
    assert not tracemalloc.is_tracing()
    assert set(diff) == {"t_s", "total_bytes", "total_diff_bytes", "top"}
    top = diff["top"][0]
    assert set(top) == {"site", "size_bytes", "size_diff_bytes", "count", "count_diff",
                        "traceback"}
    assert top["site"] == f"{THIS_FILE}:{_planted_line()}"
    assert top["size_diff_bytes"] >= 500 * 4096
    assert top["count_diff"] >= 500
    assert top["traceback"][0] == top["site"]
    assert any(frame.startswith(f"{THIS_FILE}:") for frame in top["traceback"][1:])
    assert diff["total_diff_bytes"] >= 500 * 4096


def test_diffs_are_against_the_previous_snapshot_and_flag_steady_growth(
        no_tracing: None) -> None:
    """Each diff is relative to the one before; a site growing in 3 consecutive diffs is
    flagged, and a site that stops growing is not."""
    monitor = MemoryMonitor(10**12, 10**12, package_root=REPO_ROOT)
    site = f"{THIS_FILE}:{_planted_line()}"
    monitor.start_tracing()
    try:
        sizes = []
        for _ in range(3):
            _plant(100)
            entry = next(e for e in monitor.snapshot_diff()["top"] if e["site"] == site)
            sizes.append((entry["size_bytes"], entry["size_diff_bytes"]))
        assert site in monitor.growing_sites()
        quiet = monitor.snapshot_diff()
    finally:
        monitor.stop_tracing()
    for i, (size, size_diff) in enumerate(sizes):
        assert 100 * 4096 <= size_diff < 110 * 4096
        assert size >= (i + 1) * 100 * 4096
    assert all(e["size_diff_bytes"] <= 0 for e in quiet["top"] if e["site"] == site)
    assert site not in monitor.growing_sites()


def test_tracing_is_left_alone_if_someone_else_started_it(no_tracing: None) -> None:
    """stop_tracing() only stops tracemalloc when this monitor started it."""
    tracemalloc.start()
    try:
        monitor = MemoryMonitor(10, 20, rss_reader=lambda: 1)
        monitor.start_tracing()
        monitor.stop_tracing()
        assert tracemalloc.is_tracing()
        assert monitor.sample()["traced_bytes"] > 0
    finally:
        tracemalloc.stop()


def test_real_rss_reader() -> None:
    """Without an injected reader, RSS comes from psutil and is plausible (> 1 MB)."""
    monitor = MemoryMonitor(10**12, 10**12)
    assert monitor.sample()["rss_bytes"] > MB


def test_thresholds_are_validated() -> None:
    """warning above critical is refused with both figures."""
    with pytest.raises(ValueError, match="200, 100"):
        MemoryMonitor(200, 100)
