"""The seed table's rate rows (startup success, uptime, failure rate) on confidence bounds.

A rate row is judged as verify judges a rate SLO (:mod:`harness.verify.confidence`):
it passes only when the one-sided 95 % bound of the observed rate meets the target;
an observed rate that misses fails; in between the row says ``not enough trials``,
with the trials and the bound, never ``pass``. The trials are each run's
``result.json`` ``rate_counts`` (requests, probe samples), and for startup success the
runs themselves (a run whose app became ready is a success). The worst run is the one
with the worst bound.
"""

from __future__ import annotations

from harness.records import ResultRecord
from harness.report.suite_runs import SuiteRun
from harness.verify.confidence import RATE_METRICS, RateCount, judge_rate

__all__ = ["NOT_ENOUGH", "is_rate_row", "judge_count", "run_count", "worst_run"]

#: The verdict of a row whose rate meets the target but whose bound does not.
NOT_ENOUGH = "not enough trials"


def is_rate_row(metrics: tuple[str, ...], op: str) -> bool:
    """Whether a row of ``metrics`` judged with ``op`` is a rate on a bound."""
    return len(metrics) == 1 and metrics[0] in RATE_METRICS and op in ("<", "<=", ">", ">=")


def run_count(result: ResultRecord | None, metric: str, phase: str) -> RateCount | None:
    """``metric``'s [hits, trials] in ``phase`` from a run's result.json, or None."""
    block = result.rate_counts.get(phase) if result is not None else None
    pair = block.get(metric) if isinstance(block, dict) else None
    if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(x, int) for x in pair)):
        return None
    return RateCount(pair[0], pair[1], RATE_METRICS[metric]) if pair[1] > 0 else None


def judge_count(op: str, threshold: float, count: RateCount) -> tuple[str, float | None, str]:
    """(verdict, bound, words) of one rate: ``pass``/``fail``/:data:`NOT_ENOUGH`, and e.g.
    ``100% (290/290 samples, 95% lower bound 99.07%)``."""
    judged = judge_rate(op, threshold, count)
    rate = judged.evidence.get("rate") or {}
    pct = f"{100.0 * count.hits / count.trials:.3g}%" if count.trials else "n/a"
    words = f"{pct} ({rate.get('summary', 'no trials')})"
    verdict = judged.verdict if judged.verdict in ("pass", "fail") else NOT_ENOUGH
    return verdict, judged.judged, words


_SEVERITY = {"fail": 2, "unknown": 1, "pass": 0}


def worst_run(
    runs: list[SuiteRun], metric: str, phase: str, op: str, threshold: float
) -> tuple[SuiteRun, RateCount] | None:
    """The worst run for ``op threshold``: a failing one before one short of trials before a
    passing one, and among equals the worst bound (lowest lower, highest upper bound). A
    run that fails is never hidden behind one that merely had few trials."""
    worst: tuple[tuple[int, float], SuiteRun, RateCount] | None = None
    for run in runs:
        count = run_count(run.result, metric, phase)
        if count is None:
            continue
        judged = judge_rate(op, threshold, count)
        if judged.judged is None:
            continue
        key = (_SEVERITY[judged.verdict], -judged.judged if op in (">", ">=") else judged.judged)
        if worst is None or key > worst[0]:
            worst = (key, run, count)
    return (worst[1], worst[2]) if worst else None
