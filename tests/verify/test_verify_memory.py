"""Memory: Theil-Sen slope and interval, growing tracemalloc sites, growth after recovery."""

from __future__ import annotations

import random

from verifykit import samples_of

from harness.verify.memory import MB, growing_sites, memory_report, theil_sen
from harness.verify.phases import Phase


def _samples(slope_mb_per_hour: float, noise_mb: float, n: int = 600, seed: int = 1,
             every_s: float = 1.0) -> list[dict]:
    rng = random.Random(seed)
    per_s = slope_mb_per_hour * MB / 3600.0
    return [{"t_s": i * every_s,
             "app_proc": {"rss_bytes": 200 * MB + per_s * i * every_s
                          + rng.gauss(0, noise_mb * MB)}}
            for i in range(n)]


def test_known_slope_with_noise_is_recovered_inside_its_interval() -> None:
    """RSS grows 120 MB/h over 10 min with 2 MB of Gaussian noise and three 80 MB GC spikes:
    the slope is within 15 % of 120, its 95 % interval contains 120, and it is a leak
    against a 50 MB/h threshold."""
    samples = _samples(120.0, 2.0)
    for i in (100, 300, 500):
        samples[i]["app_proc"]["rss_bytes"] += 80 * MB
    section, metrics = memory_report(samples_of(samples), [], [], 0.0, 50.0)
    lo, hi = section["ci95"]
    assert abs(section["slope_mb_per_hour"] - 120.0) < 18.0
    assert lo <= 120.0 <= hi
    assert section["leak"] is True
    assert metrics["run"]["memory_growth_mb_per_hour"] == section["slope_mb_per_hour"]


def test_flat_noisy_memory_is_not_a_leak() -> None:
    """No growth, 5 MB of noise: the lower bound stays below a 10 MB/h threshold (no wolf)."""
    section, _ = memory_report(samples_of(_samples(0.0, 5.0, seed=3)), [], [], 0.0, 10.0)
    assert section["ci95"][0] < 10.0
    assert section["leak"] is False


def test_warmup_growth_is_dropped() -> None:
    """A 300 MB climb during a 60 s warm-up then flat: the fit after warm-up is ~0."""
    samples = _samples(0.0, 0.5, n=300)
    for s in samples[:60]:
        s["app_proc"]["rss_bytes"] -= (60 - s["t_s"]) * 5 * MB
    section, _ = memory_report(samples_of(samples), [], [], 60.0, 50.0)
    assert abs(section["slope_mb_per_hour"]) < 5.0 and not section["leak"]


def test_theil_sen_exact_line_and_too_few_points() -> None:
    """On an exact line the slope is exact and the interval collapses on it; two points
    are not a trend."""
    fit = theil_sen([0, 1, 2, 3, 4], [1, 3, 5, 7, 9])
    assert fit is not None and fit.slope == 2.0 and fit.low == fit.high == 2.0
    assert fit.intercept == 1.0
    assert theil_sen([0, 1], [0, 1]) is None


def _diff(sites: dict[str, int]) -> tuple[str, dict]:
    return ("diff", {"top": [{"site": s, "size_bytes": 1000, "size_diff_bytes": d, "count": 1,
                              "traceback": [s, "caller.py:1"]} for s, d in sites.items()]})


def test_only_sites_growing_in_consecutive_diffs_are_flagged() -> None:
    """leak.py grows in 4 consecutive diffs; cache.py grows twice, then shrinks, then grows;
    once.py grows once by a lot. Only leak.py counts, with its file:line and traceback."""
    diffs = [_diff({"leak.py:10": 100, "cache.py:5": 500, "once.py:1": 10**6}),
             _diff({"leak.py:10": 100, "cache.py:5": 500}),
             _diff({"leak.py:10": 100, "cache.py:5": -900}),
             _diff({"leak.py:10": 100, "cache.py:5": 500})]
    sites = growing_sites(diffs)
    assert [s["site"] for s in sites] == ["leak.py:10"]
    assert sites[0]["consecutive_diffs"] == 4 and sites[0]["growth_bytes"] == 400
    assert sites[0]["traceback"] == ["leak.py:10", "caller.py:1"]
    assert growing_sites(diffs[:1]) == []


def test_a_busy_site_growing_kilobytes_is_no_leak_site() -> None:
    """Diffs 10 s apart: busy.py grows 4 KB three times in a row among its ups and downs
    (net 12 KB over 60 s: 0.7 MB/h), leak.py 300 KB every diff (108 MB/h). With the run's
    rate floor (a fifth of a 50 MB/h threshold) only leak.py is named, with its rate."""
    busy = [-30_000, 30_000, 4_000, 4_000, 4_000, 0]
    diffs = [("diff", {"t_s": 10.0 * (i + 1), "top": [
        {"site": "busy.py:1", "size_bytes": 50_000 + sum(busy[:i + 1]),
         "size_diff_bytes": d, "count": 1},
        {"site": "leak.py:2", "size_bytes": 300_000 * (i + 1), "size_diff_bytes": 300_000,
         "count": 1}]}) for i, d in enumerate(busy)]
    assert {s["site"] for s in growing_sites(diffs)} == {"busy.py:1", "leak.py:2"}
    (leak,) = growing_sites(diffs, min_mb_per_hour=10.0)
    assert leak["site"] == "leak.py:2" and leak["net_growth_bytes"] == 1_800_000
    assert leak["mb_per_hour"] == 1.8 * 3600 / 60


def test_growth_that_persists_after_recovery_is_flagged() -> None:
    """RSS is 200 MB before a fault at 100 s and 260 MB after its recovery ends at 150 s:
    the 60 MB step persists and is flagged; per-phase peaks are reported."""
    samples = [{"t_s": float(t), "app_proc": {"rss_bytes": (200 if t < 100 else 260) * MB}}
               for t in range(0, 300)]
    phases = [Phase("steady-0", "steady", 0, 100), Phase("fault-0", "fault", 100, 120, 0),
              Phase("recovery-0", "recovery", 120, 150, 0), Phase("steady-1", "steady", 150, 300)]
    section, metrics = memory_report(samples_of(samples), [], phases, 0.0, 50.0)
    after = section["after_recovery"]
    assert len(after) == 1 and after[0]["persists"] is True
    assert round(after[0]["growth_mb"]) == 60
    assert metrics["steady"]["peak_rss_mb"] == 260.0


def test_a_minute_of_samples_cannot_call_a_leak() -> None:
    """60 s of steep growth (the allocator warming up looks the same): the slope is
    reported, but the leak call is withheld (None) with the reason, never True or False."""
    section, metrics = memory_report(samples_of(_samples(900.0, 0.5, n=60)), [], [], 0.0, 50.0)
    assert section["slope_mb_per_hour"] > 500
    assert section["leak"] is None and "too short" in section["trend_reason"]
    assert metrics["run"]["memory_growth_mb_per_hour"] == section["slope_mb_per_hour"]
