"""The trend's regression and uptime rules on synthetic nights (harness.report.trend_rules)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from harness.report.trend_rules import Night, Rules, find_regressions, flags_for, uptime_window

T0 = datetime(2026, 11, 1, 2, 0, tzinfo=UTC)


def night(i: int, **kw: Any) -> Night:
    """Night ``i`` of scenario s: 02:00 UTC on day i, healthy unless told otherwise."""
    base: dict[str, Any] = dict(
        verdict="pass", as_expected=True, recovery_s=2.0, detect_s=0.5,
        p99_ms={"steady": 10.0, "fault": 50.0, "recovery": 20.0, "run": 30.0},
        availability={"steady": 1.0, "run": 0.98}, steady_s=600.0, steady_up=1.0,
        steady_up_from="uptime")
    base.update(kw)
    return Night(scenario="s", run_dir=Path(f"reports/n{i}"), started=T0 + timedelta(days=i),
                 **base)


def history(n: int, **last: Any) -> list[Night]:
    return [night(i) for i in range(n - 1)] + [night(n - 1, **last)]


def rules_of(nights: list[Night]) -> list[str]:
    return [e.rule for e in find_regressions(nights)]


def test_a_clean_history_has_no_regression() -> None:
    assert find_regressions(history(10)) == []


def test_recovery_four_times_slower_on_the_last_night_is_an_ongoing_regression() -> None:
    nights = history(6, recovery_s=8.0)
    (ep,) = find_regressions(nights)
    assert ep.rule == "recovery" and ep.ongoing and ep.first is nights[-1]
    assert ep.last_good is nights[-2]
    assert ep.compare_command == "chaosharness compare reports/n4 reports/n5"
    assert ep.flags[0].baseline == pytest.approx(2.0)
    assert "8 s > 2x the median 2 s of the previous 5 good nights" in ep.flags[0].reason
    doc = ep.to_json()
    assert doc["began_run_dir"] == "reports/n5" and doc["last_good_run_dir"] == "reports/n4"


def test_the_baseline_is_the_median_of_at_most_seven_earlier_nights() -> None:
    """Nine nights at 1 s then seven at 1.9 s: the median of the last seven good nights is
    1.9 s, so 3.5 s is no regression (against all sixteen, median 1 s, it would be one)."""
    nights = [night(i, recovery_s=1.0) for i in range(9)]
    nights += [night(9 + i, recovery_s=1.9) for i in range(7)]
    nights.append(night(16, recovery_s=3.5))
    assert rules_of(nights) == []
    nights[-1].recovery_s = 3.9  # just above 2 x 1.9
    assert rules_of(nights) == ["recovery"]


def test_sub_second_jitter_is_no_regression() -> None:
    """0.03 s -> 0.12 s is 4x but under the 0.5 s floor: noise on a fast recovery."""
    nights = [night(i, recovery_s=0.03) for i in range(5)] + [night(5, recovery_s=0.12)]
    assert rules_of(nights) == []
    strict = Rules(recovery_floor_s=0.0)
    assert [e.rule for e in find_regressions(nights, strict)] == ["recovery"]


def test_no_rule_speaks_before_three_baseline_nights() -> None:
    assert rules_of(history(3, recovery_s=40.0)) == []
    assert rules_of(history(4, recovery_s=40.0)) == ["recovery"]


def test_a_persisting_regression_began_on_its_first_night_and_is_not_its_own_baseline() -> None:
    """Slow from night 5 on, for five nights: one episode from night 5, still flagged on the
    last night (the slow nights never joined the baseline)."""
    nights = [night(i) for i in range(5)] + [night(i, recovery_s=9.0) for i in range(5, 10)]
    (ep,) = find_regressions(nights)
    assert ep.first is nights[5] and ep.last is nights[9] and len(ep.flags) == 5
    assert ep.ongoing and ep.last_good is nights[4]


def test_a_regression_that_ended_does_not_page() -> None:
    nights = [night(i) for i in range(5)] + [night(5, recovery_s=9.0), night(6), night(7)]
    (ep,) = find_regressions(nights)
    assert ep.first is nights[5] and not ep.ongoing


def test_a_last_night_that_could_not_run_ends_nothing_and_pages_nobody() -> None:
    nights = history(6, recovery_s=9.0) + [night(6, judged=False, run_status="failed",
                                                 verdict="not run", as_expected=None)]
    (ep,) = find_regressions(nights)
    assert ep.first is nights[5] and not ep.ongoing


def test_a_fault_that_never_recovered_is_a_recovery_regression() -> None:
    (ep,) = find_regressions(history(5, recovery_s=math.inf, verdict="pass"))
    assert ep.rule == "recovery" and "never recovered" in ep.flags[0].reason
    assert ep.to_json()["value"] is None


def test_a_verdict_flip_is_flagged_on_the_night_it_flipped() -> None:
    nights = [night(i) for i in range(3)] + [night(i, verdict="fail", as_expected=False)
                                              for i in range(3, 5)]
    (ep,) = find_regressions(nights)
    assert ep.rule == "verdict" and ep.first is nights[3] and ep.last_good is nights[2]
    assert ep.ongoing and len(ep.flags) == 2


def test_a_verdict_flip_needs_no_baseline_of_three() -> None:
    nights = [night(0), night(1, verdict="fail", as_expected=False)]
    assert rules_of(nights) == ["verdict"]


def test_a_scenario_never_as_expected_has_no_flip() -> None:
    nights = [night(i, verdict="fail", as_expected=False) for i in range(4)]
    assert rules_of(nights) == []


def test_a_negative_control_that_stops_failing_flips() -> None:
    """expect fail: 'fail' is as expected; a pass (the detector did not fire) is the flip."""
    nights = [night(i, expect="fail", verdict="fail", as_expected=True) for i in range(3)]
    nights.append(night(3, expect="fail", verdict="pass", as_expected=False))
    assert rules_of(nights) == ["verdict"]


def test_p99_doubling_in_one_phase_names_the_phase() -> None:
    p99 = {"steady": 25.0, "fault": 50.0, "recovery": 20.0, "run": 30.0}
    (ep,) = find_regressions(history(6, p99_ms=p99))
    assert ep.rule == "p99@steady" and ep.ongoing


def test_p99_under_the_floor_is_no_regression() -> None:
    """1 ms -> 3 ms is 3x but only 2 ms: under the 5 ms floor."""
    nights = [night(i, p99_ms={"steady": 1.0}) for i in range(5)]
    nights.append(night(5, p99_ms={"steady": 3.0}))
    assert rules_of(nights) == []


def mem(i: int, slope: float, lo: float, hi: float, judged: bool = True) -> Night:
    return night(i, mem_slope=slope, mem_ci=(lo, hi), mem_judged=judged)


def test_memory_above_the_earlier_nights_band_is_flagged() -> None:
    """The band is the largest upper 95% bound of the baseline nights (12 MB/h here)."""
    nights = [mem(0, 5.0, 0.0, 10.0), mem(1, 6.0, 1.0, 12.0), mem(2, 4.0, -1.0, 9.0),
              mem(3, 11.0, 8.0, 14.0)]
    assert rules_of(nights) == []  # 11 is inside the band
    nights.append(mem(4, 30.0, 25.0, 35.0))
    (ep,) = find_regressions(nights)
    assert ep.rule == "memory" and ep.flags[0].baseline == pytest.approx(14.0)


def test_memory_of_runs_too_short_to_judge_is_ignored() -> None:
    nights = [mem(i, 5.0, 0.0, 10.0) for i in range(4)] + [mem(4, 500.0, 100.0, 900.0, False)]
    assert rules_of(nights) == []


def test_memory_without_an_interval_uses_the_slope_as_its_bound() -> None:
    nights = [night(i, mem_slope=5.0, mem_judged=True) for i in range(3)]
    nights.append(night(3, mem_slope=5.5, mem_judged=True))
    assert rules_of(nights) == ["memory"]


def test_nights_without_a_value_neither_break_nor_extend_an_episode() -> None:
    nights = history(5, recovery_s=9.0) + [night(5, recovery_s=None), night(6, recovery_s=9.5)]
    (ep,) = find_regressions(nights)
    assert ep.first is nights[4] and ep.last is nights[6] and len(ep.flags) == 2 and ep.ongoing


def test_flags_for_one_rule_says_which_nights_it_could_judge() -> None:
    nights = history(5, recovery_s=9.0)
    nights[1].recovery_s = None
    flags, valued = flags_for(nights, "recovery")
    assert [f.index for f in flags] == [4] and valued == [0, 2, 3, 4]


# ---- uptime ------------------------------------------------------------------------------


def test_uptime_counts_steady_minutes_and_spends_the_budget_on_down_minutes() -> None:
    """Two 600 s steady nights, one 99.5% up: 20 steady minutes, 0.05 down; the 99.9%
    budget is 0.02 min, spent 250%. Negative controls and nights outside the window are
    not counted; a night without phases is counted as not measured."""
    nights = [night(0), night(1, steady_up=0.995),
              night(2, steady_up=0.0, expect="fail", verdict="fail"),
              night(3, steady_s=None), night(40, steady_up=0.0)]
    u = uptime_window(nights, T0, T0 + timedelta(days=7), 0.999)
    assert u["nights"] == 2 and u["not_measured"] == 1
    assert u["steady_minutes"] == pytest.approx(20.0)
    assert u["down_minutes"] == pytest.approx(0.05)
    assert u["uptime"] == pytest.approx(0.9975)
    assert u["budget_minutes"] == pytest.approx(0.02)
    assert u["budget_used"] == pytest.approx(2.5)
    assert u["met"] is False


def test_uptime_of_no_nights_is_not_measured() -> None:
    u = uptime_window([], T0, T0 + timedelta(days=7), 0.999)
    assert u["uptime"] is None and u["budget_used"] is None and u["met"] is None
