"""The verify pipeline: read the run directory once, run every checker, judge the SLOs.

Order matters in one place only: recovery times come from the requests, and the
phase split comes from the recovery times, so requests.csv is read first (one pass,
into compact columns) and split into phases afterwards.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.errors import VerifyError
from harness.records import FinalReadRecord, ResultRecord, RunInfo, Sample
from harness.records.result import FaultOutcome, WriteAccounting
from harness.scenario.schema import Scenario
from harness.verify.availability import (
    RecoveryRule,
    TimeSeries,
    baseline_min_ok,
    detect_time,
    recovery_point,
    request_metrics,
    tally,
)
from harness.verify.catalog import FAMILIES, PHASE_KINDS
from harness.verify.confidence import rate_counts
from harness.verify.evidence import attach_evidence
from harness.verify.load_health import load_health
from harness.verify.memory import memory_report
from harness.verify.phases import PhaseIndex, build_phases, run_bounds
from harness.verify.process import process_metrics
from harness.verify.requests import RequestTable, read_requests
from harness.verify.rundir import RunFiles
from harness.verify.slo import Judgement, evaluate_slos
from harness.verify.verdict import expectation, overall_verdict, read_scenario
from harness.verify.windows import FaultWindow, fault_windows
from harness.verify.writes import (
    FinalRead,
    WriteLedger,
    account_writes,
    describe_keys,
    load_final_read,
    lost_worker_keys,
    write_metrics,
)

__all__ = ["DEFAULT_MEMORY_THRESHOLD_MB_PER_HOUR", "fault_metrics", "judge_run"]

#: The leak threshold when the scenario sets no memory_growth_mb_per_hour SLO.
DEFAULT_MEMORY_THRESHOLD_MB_PER_HOUR = 50.0


def _end_of_run(files: RunFiles, table: RequestTable, load_end: float) -> float:
    """The last instant a phase covers: load end, else the last thing recorded."""
    if math.isfinite(load_end):
        return load_end
    last = [e.t_s for e in files.timeline()]
    last += [s.t_s for s in files.samples()[-1:]]
    last += [max(table.t_s)] if len(table) else []
    return max(last, default=0.0)


def _recoveries(
    windows: list[FaultWindow], series: TimeSeries, data_end: float, rule: RecoveryRule,
    min_ok: float,
) -> tuple[dict[int, float | None], list[dict[str, Any]]]:
    """Each window's recovery point, searched until the next fault or the end of the load."""
    recovered_at: dict[int, float | None] = {}
    evidence: list[dict[str, Any]] = []
    for pos, w in enumerate(windows):
        recovered_at[pos] = None
        if not w.ok or w.recovery_from_s is None:
            why = ("the fault did not apply" if not w.ok else
                   f"not measurable: {w.recovery_from}" if w.rolled_back and
                   w.recovery_from not in ("removed", "postgres_ready") else
                   "removed by the end-of-run rollback: no load left to recover"
                   if w.rolled_back else "the fault was never removed")
            evidence.append({"reason": why})
            continue
        start = w.recovery_from_s
        nxt = min((o for o in windows if o.ok and o.applied_s > start),
                  key=lambda o: o.applied_s, default=None)
        until = min(nxt.applied_s, data_end) if nxt else data_end
        what = f"{nxt.name} was applied" if nxt and nxt.applied_s < data_end else "the load ended"
        point, ev = recovery_point(series, start, until, rule, min_ok, what)
        if point is None and nxt is not None and nxt.applied_s < data_end:
            # every window that fit was disproved; a later one could only open on an ok
            # request too close to the next fault to be judged
            late = series.first_ok(max(start, until - rule.window_s), until)
            ev.update(interrupted_by=nxt.name,
                      at_least_s=(late if late is not None else until) - start)
        recovered_at[pos] = point
        evidence.append(ev)
    return recovered_at, evidence


def _fault_entries(
    windows: list[FaultWindow], recovered_at: dict[int, float | None],
    rec_evidence: list[dict[str, Any]], samples: list[Sample],
    index: PhaseIndex, by_name: dict[str, dict[str, Any]], table: RequestTable,
    series: TimeSeries,
) -> list[FaultOutcome]:
    entries: list[FaultOutcome] = []
    for pos, w in enumerate(windows):
        rec_name = "recovery-" + w.name.removeprefix("fault-")
        rec_phase = next((p for p in index.phases if p.name == rec_name), None)
        until = rec_phase.end_s if rec_phase else (w.removed_s or math.inf)
        detect, detect_ev = (detect_time(w, samples, until, table, series) if w.ok
                              else (None, {}))
        point = recovered_at.get(pos)
        start = w.recovery_from_s
        entries.append(FaultOutcome(
            fault=w.fault, repeat=w.repeat, name=w.name, action=w.action, params=w.params,
            ok=w.ok, error=w.error, applied_s=w.applied_s, removed_s=w.removed_s,
            rolled_back=w.rolled_back,
            recovery_from=w.recovery_from if start is not None else None,
            recovery_from_s=start, recovered_s=point,
            recovery_s=point - start if point is not None and start is not None else None,
            recovered=point is not None, recovery_evidence=rec_evidence[pos],
            detect_s=detect, detected=detect is not None, detect_evidence=detect_ev,
            during=_brief(by_name.get(w.name)),
            after=_brief(by_name.get(rec_phase.name)) if rec_phase else None,
        ))
    return entries


def _brief(block: dict[str, Any] | None) -> dict[str, object] | None:
    if block is None:
        return None
    return {k: block.get(k) for k in ("requests", "availability", "errors_by_class")}


def fault_metrics(faults: Sequence[FaultOutcome]) -> tuple[
    dict[str, dict[str, Any]], dict[tuple[str, str], str],
    dict[tuple[str, str], tuple[float, float]],
]:
    """The ``faults`` family (:data:`harness.verify.catalog.FAMILIES`): recovery_seconds /
    detect_seconds (worst fault) by phase kind, forced failures for faults that applied but
    never recovered or were never detected, and interval bounds: a recovery interrupted by
    the next fault took at least until then (a lower bound, not a value)."""
    metrics: dict[str, dict[str, Any]] = {}
    forced: dict[tuple[str, str], str] = {}
    bounds: dict[tuple[str, str], tuple[float, float]] = {}
    removed = [f for f in faults if f.ok and f.removed_s is not None and not f.rolled_back]
    applied = [f for f in faults if f.ok]
    recovery = [(f.recovery_s, f.recovered, f.at_least_s, f.name) for f in removed]
    detection = [(f.detect_s, f.detected, None, f.name) for f in applied]
    for metric, judged, phases, verb in (
        ("recovery_seconds", recovery, ("recovery", "run"), "recover"),
        ("detect_seconds", detection, ("fault", "run"), "get detected"),
    ):
        values = [value for value, _, _, _ in judged if value is not None]
        worst = max(values) if values else None
        at_least = [bound for _, _, bound, _ in judged if bound is not None]
        missing = [name for _, done, bound, name in judged if not done and bound is None]
        for phase in phases:
            metrics.setdefault(phase, {})[metric] = worst
            if missing:
                forced[(metric, phase)] = f"{', '.join(missing)} did not {verb}"
            if worst is not None and at_least:
                bounds[(metric, phase)] = (max(worst, *at_least), worst)
    return metrics, forced, bounds


def _merge(computed: dict[str, dict[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """result.json's ``metrics``: each family of the registry
    (:data:`harness.verify.catalog.FAMILIES`, in its order) by phase kind; a family the
    registry names and verify did not compute is a bug, raised here."""
    missing = [name for name in FAMILIES if name not in computed]
    if missing:
        raise VerifyError(f"metric families {missing} were not computed (harness.verify.judge)")
    metrics: dict[str, dict[str, Any]] = {k: {} for k in PHASE_KINDS}
    for name in FAMILIES:
        for kind in PHASE_KINDS:
            metrics[kind].update(computed[name].get(kind, {}))
    return metrics


def _recovery_rule(scenario: Scenario) -> RecoveryRule:
    """``[verify] recovery_window`` and ``recovery_min_ok``, as the loader resolved them."""
    return RecoveryRule(window_s=scenario.verify.recovery_window,
                        min_ok=scenario.verify.recovery_min_ok)


def _memory_threshold(facts: Scenario) -> float:
    return next((s.threshold for s in facts.slos
                 if s.metric == "memory_growth_mb_per_hour" and s.phase == "run"),
                DEFAULT_MEMORY_THRESHOLD_MB_PER_HOUR)


def _writes(files: RunFiles, ledger: WriteLedger, final: FinalRead | FinalReadRecord | None,
            load: dict[str, Any], seed: object) -> WriteAccounting:
    """The write accounting, with every attempt of the first lost keys as evidence, and
    what the online checker saw during the run (a timeline ``online_violation`` line).
    Keys of lost load workers without a row are ``unrecorded`` (see :mod:`.writes`)."""
    writes = account_writes(ledger, final, lost_worker_keys(seed, load["lost"]))
    online = [e.to_json() for e in files.timeline() if e.event == "online_violation"]
    if online:
        writes.online_violation = online[0]
    csv_path = files.requests_csv()
    if writes.lost and csv_path is not None:
        writes.lost_attempts = describe_keys(csv_path, writes.examples["lost"])
    return writes


def _judge(
    facts: Scenario, metrics: dict[str, dict[str, Any]], forced: dict[tuple[str, str], str],
    bounds: dict[tuple[str, str], tuple[float, float]], ctx: dict[str, Any],
) -> list[Judgement]:
    memory = ctx["memory"]
    fits = {**memory.get("by_phase", {}), "run": memory}
    bounds = {**bounds, **{("memory_growth_mb_per_hour", k): (v["ci95"][0], v["ci95"][1])
                           for k, v in fits.items() if v.get("ci95")}}
    unknown = {("memory_growth_mb_per_hour", k): v["trend_reason"]
               for k, v in fits.items() if v.get("trend_reason")}
    judgements = evaluate_slos(facts.slos, metrics, bounds, forced, unknown, ctx["rates"])
    attach_evidence(judgements, ctx)
    return judgements


def judge_run(root: Path) -> ResultRecord:
    """Every metric, every SLO verdict and the expectation: result.json's record."""
    files = RunFiles(root)
    run_info = files.run_info()
    facts = read_scenario(files.path("scenario.toml"))
    events = files.timeline()
    # first: its JSON is verify's largest transient (packed at once when it has rows)
    final = load_final_read(files.path("final_read.json"))
    ledger = WriteLedger()
    table = read_requests(files.requests_csv(), ledger)
    load = load_health(events)
    # the keys are accounted at once and let go: at 10 M rows they are ~400 MB
    writes = _writes(files, ledger, final, load, run_info.seed if run_info else None)
    del ledger, final
    samples = files.samples()  # only now: a day of ticks is ~150 MB, never beside the keys
    series = TimeSeries.from_table(table)
    warm_end, load_end = run_bounds(events, run_info, facts.warmup)
    end_s = _end_of_run(files, table, load_end)
    rule = _recovery_rule(facts)
    windows = fault_windows(events, load_end)
    first_fault = min((w.applied_s for w in windows), default=end_s)
    min_ok, baseline = baseline_min_ok(series, warm_end, first_fault, rule)
    recovered_at, rec_evidence = _recoveries(windows, series, end_s, rule, min_ok)
    index = PhaseIndex(build_phases(windows, recovered_at, warm_end, end_s))
    counts = tally(table, index, series)
    by_kind, by_name = request_metrics(table, index, counts)
    counts.latencies.clear()  # a copy of every latency, no longer needed
    faults = _fault_entries(windows, recovered_at, rec_evidence, samples, index, by_name,
                            table, series)
    by_fault, forced, fault_bounds = fault_metrics(faults)
    memory, mem_metrics = memory_report(samples, files.memory_diffs(), index.phases,
                                        warm_end, _memory_threshold(facts))
    process, proc_metrics = process_metrics(samples, run_info, events, index, table, series,
                                            files.path("logs"), load_end, warm_end)
    if process["startup"].get("never_ready"):
        forced[("startup_seconds", "run")] = process["startup"]["reason"]
    metrics = _merge({"requests": by_kind, "faults": by_fault, "memory": mem_metrics,
                      "process": proc_metrics, "writes": write_metrics(writes)})
    rates = rate_counts(metrics, process["uptime_samples"])
    judgements = _judge(facts, metrics, forced, fault_bounds, {
        "rates": rates, "metrics": metrics, "phases": index.phases, "by_name": by_name, "faults": faults,
        "writes": writes, "memory": memory, "process": process,
        "request_examples": lambda kind: counts.examples(table, [
            p for p, ph in enumerate(index.phases) if kind == "run" or ph.kind == kind])})
    expected = expectation(facts, judgements)
    info = run_info or RunInfo()
    return ResultRecord(
        scenario=facts.name, run_id=info.run_id or root.name, run_status=info.status,
        error=info.error, expect=facts.expect, expect_fail=list(facts.expect_fail),
        verdict=overall_verdict(judgements), as_expected=expected.as_expected,
        expectation_reasons=expected.reasons,
        phases=[p.to_dict() for p in index.phases],
        metrics=metrics, metrics_by_phase=by_name, rate_counts=rates,
        slos=[j.to_dict() for j in judgements],
        faults=faults, writes=writes.to_json(), load=load, memory=memory, process=process,
        recovery_rule={"window_s": rule.window_s, "min_ok": rule.min_ok,
                       "baseline_availability": baseline, "min_ok_used": min_ok},
        seed=info.seed, profile=info.profile, versions=info.versions, host=info.host,
    )
