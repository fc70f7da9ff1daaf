"""Rate SLOs on a confidence bound (harness.verify.confidence): the bound's arithmetic, the
three verdicts, and verify_run on hand-made run directories with few and many trials."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from verifykit import RunDirBuilder, steady_load

from harness.records import ResultRecord
from harness.report.tables import verdict_table
from harness.slo import parse_slo
from harness.verify import verify_run
from harness.verify.confidence import (
    RateCount,
    judge_rate,
    rate_counts,
    trials_needed,
    wilson_bounds,
)
from harness.verify.slo import evaluate_slo

Z2 = 1.6448536269514722 ** 2


@st.composite
def counts(draw: st.DrawFn) -> tuple[int, int]:
    trials = draw(st.integers(1, 100_000))
    return draw(st.integers(0, trials)), trials


@given(counts())
def test_bounds_bracket_the_observed_rate(count: tuple[int, int]) -> None:
    """0 <= lower <= hits/trials <= upper <= 1, and both bounds are strict inside (0, 1)
    unless the rate is 0 or 1."""
    hits, trials = count
    low, high = wilson_bounds(hits, trials)
    p = hits / trials
    assert 0.0 <= low <= p <= high <= 1.0
    assert (low < p) == (hits > 0) and (high > p) == (hits < trials)


@given(counts())
def test_one_more_success_never_lowers_the_bound(count: tuple[int, int]) -> None:
    hits, trials = count
    if hits < trials:
        assert wilson_bounds(hits + 1, trials)[0] > wilson_bounds(hits, trials)[0]
        assert wilson_bounds(hits + 1, trials)[1] > wilson_bounds(hits, trials)[1]


@given(st.integers(1, 1_000_000))
def test_a_flawless_run_has_the_closed_form_bound(n: int) -> None:
    """n of n: the lower bound is n / (n + z**2), growing with n."""
    assert wilson_bounds(n, n)[0] == pytest.approx(n / (n + Z2), rel=1e-12)
    assert wilson_bounds(n + 1, n + 1)[0] > wilson_bounds(n, n)[0]


def test_five_starts_of_five_cannot_show_99_percent() -> None:
    """The README's old headline: 5/5 starts is 100 % observed, but the bound is 64.9 %,
    so ">= 99%" is unknown, and the reason gives trials, bound and the trials needed."""
    j = judge_rate(">=", 0.99, RateCount(5, 5, "runs"))
    assert j.verdict == "unknown"
    assert j.judged == pytest.approx(0.6489, abs=1e-4)
    assert j.evidence["reason"] == ("not enough trials: 5/5 runs: lower bound 64.89% < 99% "
                                    "(95% one-sided Wilson; even a flawless run needs 268 runs)")
    assert j.evidence["rate"]["trials"] == 5 and j.evidence["rate"]["bound"] == "lower"


@pytest.mark.parametrize(("op", "threshold", "need"), [
    (">=", 0.99, 268), (">=", 0.999, 2703), (">", 0.99, 268), ("<", 0.001, 2703),
    ("<=", 0.01, 268), (">=", 0.0, 1)])
def test_trials_needed_is_the_first_flawless_count_that_passes(
    op: str, threshold: float, need: int
) -> None:
    """The rule of three's 300 and 3,000, as the one-sided Wilson bound puts them."""
    assert trials_needed(op, threshold) == need
    good = (lambda n: RateCount(n, n)) if op[0] == ">" else (lambda n: RateCount(0, n))
    assert judge_rate(op, threshold, good(need)).verdict == "pass"
    if need > 1:
        assert judge_rate(op, threshold, good(need - 1)).verdict == "unknown"


def test_no_count_of_trials_shows_a_rate_of_100_percent() -> None:
    assert trials_needed(">=", 1.0) is None
    j = judge_rate(">=", 1.0, RateCount(10**6, 10**6))
    assert j.verdict == "unknown" and "even a flawless" not in j.evidence["reason"]


@given(counts(), st.sampled_from([">=", ">", "<=", "<"]), st.floats(0.0, 1.0))
def test_verdicts_follow_the_bound_and_the_observed_rate(
    count: tuple[int, int], op: str, threshold: float
) -> None:
    """pass: the bound on the SLO's side meets the threshold; fail: the observed rate misses
    it; unknown (not enough trials) otherwise: a pass is never granted on the rate alone."""
    hits, trials = count
    j = judge_rate(op, threshold, RateCount(hits, trials))
    low, high = wilson_bounds(hits, trials)
    bound = low if op[0] == ">" else high
    holds = {">=": float.__ge__, ">": float.__gt__, "<=": float.__le__, "<": float.__lt__}[op]
    assert j.judged == bound
    if holds(bound, threshold):
        assert j.verdict == "pass"
    elif not holds(hits / trials, threshold):
        assert j.verdict == "fail"
    else:
        assert j.verdict == "unknown"
        assert j.evidence["reason"].startswith(f"not enough trials: {hits}/{trials} ")


def test_no_trials_is_unknown() -> None:
    assert judge_rate(">=", 0.5, RateCount(0, 0, "requests")).verdict == "unknown"


def test_evaluate_slo_judges_rates_on_the_bound_and_exact_ops_on_the_value() -> None:
    """availability with 300 flawless requests passes >= 99%, 100 of them is unknown, 290 of
    300 fails; ``==`` is judged on the value; a metric without counts keeps the old rule."""
    slo = parse_slo("steady", "availability", ">= 99%")
    for pair, verdict in (([300, 300], "pass"), ([100, 100], "unknown"), ([290, 300], "fail")):
        metrics = {"steady": {"availability": pair[0] / pair[1]}}
        rates = {"steady": {"availability": pair}}
        j = evaluate_slo(slo, metrics, rates=rates)
        assert j.verdict == verdict, pair
        assert j.judged_value == wilson_bounds(*pair)[0]
    exact = parse_slo("steady", "availability", "== 100%")
    j = evaluate_slo(exact, {"steady": {"availability": 1.0}},
                     rates={"steady": {"availability": [5, 5]}})
    assert j.verdict == "pass" and j.judged_value == 1.0
    assert evaluate_slo(slo, {"steady": {"availability": 1.0}}).verdict == "pass"


def test_rate_counts_recover_exact_ok_counts() -> None:
    """round(availability * requests) is the ok count for every count up to 10**7."""
    for n, ok in ((7, 3), (3, 1), (10**7 - 1, 10**7 - 3), (49, 48)):
        got = rate_counts({"steady": {"requests": n, "availability": ok / n}})
        assert got["steady"]["availability"] == [ok, n]
        assert got["steady"]["error_rate"] == [n - ok, n]
    assert rate_counts({"fault": {"requests": 0, "availability": None}}) == {}
    assert rate_counts({}, {"run": [3, 4], "steady": [0, 0]}) == {"run": {"uptime": [3, 4]}}


def _short_steady_run(root: Path, until: float) -> Path:
    """10 requests/s of steady load from 5 s to ``until``, every one ok, readiness 200."""
    b = RunDirBuilder(root)
    b.scenario = ('name = "x"\n[slo.steady]\navailability = ">= 99.9%"\n'
                  'uptime = ">= 99%"\n')
    b.bounds(5.0, until)
    steady_load(b, 5.0, until)
    for t in range(int(until) + 1):
        b.sample(float(t), ready=True)
    return b.write()


def test_a_short_flawless_run_is_unknown_not_pass(tmp_path: Path) -> None:
    """60 s of flawless steady load (~550 requests, ~55 samples): 100 % observed for both,
    neither can be shown at its threshold, so both SLOs and the verdict are unknown, the
    reason names trials and bound, and the report's verdict table shows them."""
    result = verify_run(_short_steady_run(tmp_path / "run", 60.0))
    slos = {s["id"]: s for s in result["slos"]}
    assert result["verdict"] == "unknown" and result["as_expected"] is False
    for sid, unit in (("availability@steady", "requests"), ("uptime@steady", "samples")):
        slo = slos[sid]
        rate = slo["evidence"]["rate"]
        assert slo["verdict"] == "unknown" and slo["value"] == 1.0, slo
        assert rate["hits"] == rate["trials"] > 50 and rate["unit"] == unit
        assert slo["evidence"]["reason"].startswith(
            f"not enough trials: {rate['trials']}/{rate['trials']} {unit}: lower bound")
        assert result["rate_counts"]["steady"][sid.split("@")[0]] == [rate["hits"],
                                                                       rate["trials"]]
    rows = {r[0]: r for r in verdict_table(ResultRecord.from_json(result)).rows}
    assert f"/{slos['uptime@steady']['evidence']['rate']['trials']} samples, 95% lower bound" \
        in rows["uptime"][3]
    assert rows["availability"][4].startswith("unknown: not enough trials")


def test_a_long_flawless_run_passes_on_its_bound(tmp_path: Path) -> None:
    """Ten minutes of the same (~6,000 requests, ~600 samples): both bounds clear the
    thresholds, so both pass, with the bound as the judged value."""
    result = verify_run(_short_steady_run(tmp_path / "run", 600.0))
    for slo in result["slos"]:
        assert slo["verdict"] == "pass", slo
        assert slo["threshold"] <= slo["judged_value"] < 1.0
        assert math.isclose(slo["judged_value"], slo["evidence"]["rate"]["bound_value"])
