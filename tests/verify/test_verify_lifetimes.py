"""The RSS slope per process lifetime (harness.verify.lifetimes): a restart's drop is never a
slope, a leak in every process is still a leak, and one lifetime is plain Theil-Sen."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from verifykit import RunDirBuilder, samples_of, steady_load

from harness.verify import verify_run
from harness.verify.lifetimes import (
    RESTART_WARMUP_S,
    after_warmup,
    pooled_theil_sen,
    split_lifetimes,
)
from harness.verify.memory import MB, memory_report, theil_sen


def _life(pid: int, t0: float, t1: float, base_mb: float, mb_per_hour: float,
          rng: random.Random, noise_mb: float = 0.3) -> list[dict[str, Any]]:
    """One process's samples each second from ``t0`` to ``t1``: a line plus noise."""
    return [{"t_s": float(t), "app_proc": {"pid": pid, "rss_bytes": (
        base_mb + mb_per_hour * (t - t0) / 3600.0 + rng.gauss(0, noise_mb)) * MB}}
        for t in range(int(t0), int(t1))]


def _restarted(mb_per_hour: float, seed: int = 1) -> list[dict[str, Any]]:
    """Process 11 for 200 s from 100 MB; killed (one sample without a process); process 12
    from 60 MB for 200 s more: both grow ``mb_per_hour``."""
    rng = random.Random(seed)
    gap = [{"t_s": 200.0, "app_proc": None, "missing": ["app_proc"]}]
    return _life(11, 0, 200, 100.0, mb_per_hour, rng) + gap + \
        _life(12, 201, 401, 60.0, mb_per_hour, rng)


def test_samples_split_by_pid_and_restarts_drop_their_own_warmup() -> None:
    lives = split_lifetimes(samples_of(_restarted(0.0)))
    assert [(life.pid, len(life.points)) for life in lives] == [(11, 200), (12, 200)]
    kept = after_warmup(lives, 10.0)
    assert kept[0].points[0][0] == 10.0
    assert kept[1].points[0][0] == 201.0 + RESTART_WARMUP_S


def test_a_sample_without_a_pid_continues_the_lifetime() -> None:
    """A target whose sampler gives no pid is one lifetime; a pid that appears later names it."""
    samples = [{"t_s": float(t), "app_proc": {"rss_bytes": 1e8}} for t in range(3)]
    samples += [{"t_s": 3.0, "app_proc": {"pid": 5, "rss_bytes": 1e8}}]
    assert [(life.pid, len(life.points)) for life in split_lifetimes(samples_of(samples))] == [
        (5, 4)]


def test_a_restart_drop_hides_no_leak() -> None:
    """Both processes leak 200 MB/h; the second starts 40 MB lower. One line through both
    sees the drop and calls it flat or shrinking (the old fit: no leak); within lifetimes the
    slope is ~200 MB/h, and against 50 MB/h it is a leak, judged (400 s of samples)."""
    samples = _restarted(200.0)
    points = [(s["t_s"], s["app_proc"]["rss_bytes"]) for s in samples if s.get("app_proc")]
    across = theil_sen([t for t, _ in points], [r for _, r in points])
    assert across is not None and across.low * 3600 / MB < 50.0  # what the old fit judged
    section, metrics = memory_report(samples_of(samples), [], [], 10.0, 50.0)
    assert section["slope_mb_per_hour"] == pytest.approx(200.0, rel=0.1)
    assert section["ci95"][0] > 50.0 and section["leak"] is True
    assert section["lifetimes_fitted"] == 2 and section["trend_reason"] is None
    assert [lt["pid"] for lt in section["lifetimes"]] == [11, 12]
    assert all(lt["slope_mb_per_hour"] == pytest.approx(200.0, rel=0.15)
               for lt in section["lifetimes"])
    assert metrics["run"]["memory_growth_mb_per_hour"] == section["slope_mb_per_hour"]


def test_a_restart_drop_is_no_negative_growth_either() -> None:
    """Flat processes, the second 40 MB lower: the slope is ~0, not the drop spread over the
    run (the old fit said about -360 MB/h)."""
    section, _ = memory_report(samples_of(_restarted(0.0)), [], [], 10.0, 50.0)
    assert abs(section["slope_mb_per_hour"]) < 5.0 and section["leak"] is False


def test_two_short_lifetimes_are_two_warmups_not_enough_span() -> None:
    """Two 100 s processes: 200 s of samples in all, but each lifetime spans under the 120 s a
    leak can be called on, so the trend is not judged."""
    rng = random.Random(4)
    samples = _life(1, 0, 100, 80.0, 500.0, rng) + _life(2, 100, 200, 80.0, 500.0, rng)
    section, _ = memory_report(samples_of(samples), [], [], 0.0, 50.0)
    assert section["leak"] is None
    assert "longest of 2 process lifetimes" in section["trend_reason"]


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=3, max_size=60),
       st.floats(-100.0, 100.0))
def test_one_lifetime_is_exactly_theil_sen(noise: list[float], slope: float) -> None:
    xs = [float(i) for i in range(len(noise))]
    ys = [slope * x + e for x, e in zip(xs, noise, strict=True)]
    plain, pooled = theil_sen(xs, ys), pooled_theil_sen([list(zip(xs, ys, strict=True))])
    assert plain is not None and pooled is not None
    assert (pooled.slope, pooled.low, pooled.high) == (plain.slope, plain.low, plain.high)


def test_a_run_directory_with_a_restart_fails_its_memory_slo(tmp_path: Path) -> None:
    """Through verify_run: an app.kill at 200 s restarts a leaking app 40 MB lower; the
    memory SLO fails on the within-lifetime slope, and result.json lists both lifetimes."""
    b = RunDirBuilder(tmp_path / "run")
    b.scenario = 'name = "x"\n[slo.run]\nmemory_growth_mb_per_hour = "< 50"\n'
    b.bounds(5.0, 400.0)
    b.fault(0, "app.kill", 199.5, 201.0)
    steady_load(b, 5.0, 400.0, rate=2.0)
    for s in _restarted(200.0):
        b.sample(s.pop("t_s"), **s)
    result = verify_run(b.write())
    (slo,) = result["slos"]
    assert slo["verdict"] == "fail" and slo["judged_value"] > 50.0, slo
    assert [lt["pid"] for lt in result["memory"]["lifetimes"]] == [11, 12]
