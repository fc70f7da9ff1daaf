"""Process checks: restart-safe counters, connection leaks, graceful shutdown, crashes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from verifykit import RunDirBuilder, exits_of, samples_of, steady_load

from harness.records import Sample
from harness.verify.availability import TimeSeries
from harness.verify.process import (
    connection_leaks,
    counter_increments,
    schema_error_count,
    shutdown_checks,
)
from harness.verify.requests import read_requests
from harness.verify.rundir import RunFiles
from harness.verify.writes import WriteLedger


def test_counter_increments_survive_an_app_restart() -> None:
    """The app's cumulative count goes 0,2,3 then restarts at 1,1,4: increments total 3 + 4."""
    samples = [{"t_s": float(i), "app_errors_unhandled": v}
               for i, v in enumerate([0, 2, 3, 1, 1, 4])]
    incs = counter_increments(samples_of(samples), "app_errors_unhandled")
    assert sum(v for _, v in incs) == 7
    assert incs[0] == (1.0, 2.0) and (3.0, 1.0) in incs


def test_connection_leak_is_counted_above_pool_max_and_baseline() -> None:
    """Pool max 10, peak 8 during load, 13 app connections after the run: 3 leaked.
    Ending at 10 (a full idle pool) is no leak."""
    samples = [{"t_s": float(t), "pool": {"max": 10}, "pg_connections": {"app": 8}}
               for t in range(10)]
    samples.append({"t_s": 20.0, "pool": {"max": 10}, "pg_connections": {"app": 13}})
    got = connection_leaks(samples_of(samples), load_end_s=15.0)
    assert got["value"] == 3 and got["final"] == 13
    samples[-1]["pg_connections"]["app"] = 10
    assert connection_leaks(samples_of(samples), load_end_s=15.0)["value"] == 0


def _conn(app: list[int | None], pool_max: int | None = None) -> list[Sample]:
    return samples_of(_conn_samples(app, pool_max))


def _conn_samples(app: list[int | None], pool_max: int | None = None,
                  by: str = "proxy") -> list[dict[str, Any]]:
    """One sample a second, t = 0 .. len-1, with ``pg_connections.app`` from ``app``."""
    return [{"t_s": float(t),
             "pool": {"max": pool_max, "in_use": 1} if pool_max is not None else None,
             "pg_connections": {"total": (c or 0) + 2, "app": c, "app_by": by if c is not None
                                else None}}
            for t, c in enumerate(app)]


def test_a_leak_that_grows_during_the_load_fires() -> None:
    """No pool max reported: 4 steady connections (warm-up 0..5 s, first fault at 10 s),
    then one more leaked every 2 s under the faults up to 14, and 14 still open after the
    load stopped at 30 s and the cooldown. The old rule (peak during the load) allowed 14,
    so it could never fire; the steady peak allows 4: 10 leaked."""
    app = [2] * 5 + [4] * 5 + [min(14, 4 + (t - 10) // 2 + 1) for t in range(10, 31)] + [14] * 6
    got = connection_leaks(_conn(app), load_end_s=30.0, warm_end_s=5.0,
                           first_fault_s=10.0)
    assert got["value"] == 10 and got["allowance"] == 4 and got["allowance_from"] == "steady_peak"
    assert got["load_peak"] == 14 and got["counted_by"] == ["proxy"] and got["settled"] == 14


def test_a_leak_above_the_pool_max_fires_even_when_the_load_peak_was_higher() -> None:
    """Pool max 10, but the service opened connections around its pool during the load (25
    at the peak) and kept 18 of them: 8 above what its pool may hold."""
    app = [5] * 10 + [10, 15, 20, 25, 25] + [18] * 8
    got = connection_leaks(_conn(app, pool_max=10), load_end_s=14.0, warm_end_s=2.0,
                           first_fault_s=8.0)
    assert got["value"] == 8 and got["allowance"] == 10 and got["allowance_from"] == "pool.max"


def test_a_clean_pool_that_grows_to_its_max_and_stays_does_not_fire() -> None:
    """Steady at 3, the pool grows to its max of 10 under the faults and stays full and idle
    after the load: within the pool's maximum, no leak (although above the steady peak)."""
    app = [3] * 10 + [6, 8, 10, 10, 10] + [10] * 8
    got = connection_leaks(_conn(app, pool_max=10), load_end_s=14.0, warm_end_s=2.0,
                           first_fault_s=8.0)
    assert got["value"] == 0 and got["allowance_from"] == "pool.max" and got["steady_peak"] == 3


def test_without_pool_max_the_allowance_is_the_pre_fault_steady_peak() -> None:
    """No pool max: warm-up (0..4 s) peaks at 9 (ignored), steady (4..10 s) at 5, faults
    later reach 12. After the load: 7, 6, 5, 5 -> settled 5, exactly the steady peak: 0;
    settling at 6 instead leaks 1. A one-tick spike among the last samples is not a leak."""
    app = [9, 9, 2, 2, 3, 5, 4, 5, 5, 4, 8, 12, 12, 9, 7, 6, 5, 5]
    got = connection_leaks(_conn(app), load_end_s=13.0, warm_end_s=4.0,
                           first_fault_s=10.0)
    assert got["value"] == 0 and got["allowance"] == 5 and got["steady_s"] == [4.0, 10.0]
    app[-3:] = [6, 6, 6]
    assert connection_leaks(_conn(app), load_end_s=13.0, warm_end_s=4.0,
                            first_fault_s=10.0)["value"] == 1
    app[-3:] = [5, 9, 5]
    assert connection_leaks(_conn(app), load_end_s=13.0, warm_end_s=4.0,
                            first_fault_s=10.0)["value"] == 0
    # no fault at all: the steady part runs to the load end
    got = connection_leaks(_conn([3] * 10 + [2] * 3), load_end_s=9.5, warm_end_s=2.0)
    assert got["value"] == 0 and got["steady_peak"] == 3 and got["steady_s"] == [2.0, 9.5]


def test_missing_connection_figures_are_unknown_with_a_reason_never_zero() -> None:
    """No samples, no app figure (not counted: null), no figure after the load, and no
    pool max with no steady sample before the first fault: None, with a 'not measured'
    reason each time."""
    cases = [
        ([], 10.0, 0.0, None),
        (_conn_samples([None] * 12), 8.0, 2.0, 5.0),
        (_conn_samples([3] * 8 + [None] * 4), 8.0, 2.0, 5.0),
        (_conn_samples([None] * 5 + [3] * 7), 8.0, 2.0, 5.0),
    ]
    for samples, load_end, warm_end, first_fault in cases:
        got = connection_leaks(samples_of(samples), load_end, warm_end, first_fault)
        assert got["value"] is None, got
        assert got["reason"].startswith("not measured: "), got
    samples = _conn_samples([3] * 12)
    for s in samples:
        del s["pg_connections"]["app"]  # an old samples.jsonl without the figure
    assert connection_leaks(samples_of(samples), 8.0)["value"] is None


def test_shutdown_5xx_counts_requests_in_flight_after_sigterm(tmp_path: Path) -> None:
    """app.term applied at 30 s, the app exits at 32 s with code 0. A 502 that started at
    29.5 s and ended at 30.5 s, and a 503 at 31 s, were caused by the shutdown; a 500 at
    20 s and a connection refusal at 31.5 s were not 5xx of the shutdown."""
    b = RunDirBuilder(tmp_path).bounds()
    b.fault(0, "app.term", 30.0, 33.0)
    steady_load(b, 10.0, 29.0)
    b.request(20.0, status=500).request(29.5, status=502, latency_ms=1000.0)
    b.request(31.0, status=503).request(31.5, status=0)
    root = b.write()
    files = RunFiles(root)
    table = read_requests(root / "requests.csv", WriteLedger())
    exits = [{"t_s": 32.0, "returncode": 0, "signal": "SIGTERM", "cause": "app.term"}]
    got = shutdown_checks(exits_of(exits), files.timeline(), table, TimeSeries.from_table(table))
    assert got["shutdown_5xx"] == 2 and got["shutdown_exit_code"] == 0
    exits.append({"t_s": 50.0, "returncode": -9, "signal": "SIGTERM", "cause": "run_end"})
    got = shutdown_checks(exits_of(exits), files.timeline(), table, TimeSeries.from_table(table))
    assert got["shutdown_exit_code"] == -9
    assert shutdown_checks([], files.timeline(), table, TimeSeries.from_table(table))[
        "shutdown_exit_code"] is None


def test_schema_errors_are_counted_from_the_app_logs(tmp_path: Path) -> None:
    """Two undefined-column errors in app logs (raw and by SQLSTATE); other logs ignored;
    no logs at all is unknown (None), not zero."""
    logs = tmp_path / "logs"
    assert schema_error_count(logs) is None
    logs.mkdir()
    (logs / "app.log").write_text(
        'asyncpg.exceptions.UndefinedColumnError: column "node_id" does not exist\n'
        '{"event": "db_error", "sqlstate": "42703"}\nall good\n')
    (logs / "postgres.log").write_text("ERROR: 42703 column does not exist\n")
    assert schema_error_count(logs) == 2


def test_crashes_are_pid_losses_outside_app_faults(tmp_path: Path) -> None:
    """pid 100 vanishes at 12 s (no fault: a crash); pid 200 is killed by an app.kill fault
    at 30..32 s (not a crash); a sampler timeout at 40 s says nothing; the teardown after
    load end is not a crash either. Exactly one crash, at 12 s."""
    from harness.verify.process import _crashes

    b = RunDirBuilder(tmp_path).bounds()
    b.fault(0, "app.kill", 30.0, 32.0)
    files = RunFiles(b.write())
    pids = {**{t: 100 for t in range(0, 12)}, 12: None, **{t: 200 for t in range(13, 31)},
            31: None, **{t: 300 for t in range(32, 66)}, 66: None}
    samples = [{"t_s": float(t), "missing": [], "app_proc": {"pid": p} if p else None}
               for t, p in sorted(pids.items())]
    samples[40] = {"t_s": 40.0, "missing": ["app_proc"], "app_proc": None}
    exits = [{"t_s": 30.0, "cause": "app.kill"}, {"t_s": 66.0, "cause": "teardown"}]
    crashes = _crashes(exits_of(exits), files.timeline(), samples_of(samples), load_end_s=65.0)
    assert [(c["t_s"], c["how"], c["pid"]) for c in crashes] == [(12.0, "pid vanished", 100)]


def test_startup_counts_from_postgres_back_after_an_app_restart(tmp_path: Path) -> None:
    """Postgres stopped 10..22 s, the app killed at 12 s and restarted at 13 s, first ready
    sample after that at 23.5 s: startup is 1.5 s (from Postgres back, not from the restart).
    Without any ready sample after the restart, startup has no value and says why."""
    from harness.verify.process import _startup

    b = RunDirBuilder(tmp_path).bounds()
    b.fault(0, "postgres.stop", 10.0, 22.0).fault(1, "app.kill", 12.0, 13.0)
    events = RunFiles(b.write()).timeline()
    samples = [{"t_s": float(t), "ready": not 10 <= t < 23.5} for t in range(0, 40)]
    samples.append({"t_s": 23.5, "ready": True})
    samples.sort(key=lambda s: s["t_s"])
    got = _startup(samples_of(samples), events)
    assert got["value"] == 1.5 and got["starts"][1]["from"] == "postgres_ready"
    down = [dict(s, ready=s["t_s"] < 10) for s in samples]
    got = _startup(samples_of(down), events)
    assert got["value"] is None and got["never_ready"] and "13.0" in got["reason"]


def test_per_phase_sample_metrics_from_a_handmade_run(tmp_path: Path) -> None:
    """Load 5..65 s with a 5 s warm-up, one fault 20..25 s. Samples every second: readiness
    503 during the fault (fault uptime 0, steady uptime 1),
    a saturated pool with waiters at 30..32 s (3 steady samples), a queue over its bound at
    40 s, and 2 unhandled errors counted at 50 s. Each lands in its phase with exact counts."""
    from harness.verify import verify_run

    b = RunDirBuilder(tmp_path).bounds()
    b.scenario = 'name = "x"\n[slo.run]\nunhandled_errors = "== 0"\n'
    b.fault(0, "network.latency", 20.0, 25.0)
    steady_load(b, 5.0, 65.0)
    for t in range(0, 66):
        b.sample(float(t), ready=not 20 <= t < 25,
                 pool={"in_use": 10 if 30 <= t <= 32 else 2, "max": 10,
                       "waiting": 4 if 30 <= t <= 32 else 0},
                 tasks={"queued": 1200 if t == 40 else 3, "max_queue": 1000},
                 app_errors_unhandled=2 if t >= 50 else 0, stderr_unhandled=0)
    result = verify_run(b.write())
    m = result["metrics"]
    assert m["fault"]["uptime"] == 0.0
    assert m["steady"]["uptime"] == 1.0
    # steady samples: 10..19 and 25..65 (the sample at load end belongs to the last phase)
    assert m["steady"]["pool_saturation"] == 3 / 51
    assert m["run"]["task_queue_overflow"] == 1 and m["fault"]["task_queue_overflow"] == 0
    assert m["steady"]["unhandled_errors"] == 2 and m["run"]["unhandled_errors"] == 2
    assert m["run"]["stderr_unhandled_errors"] == 0
    slo = result["slos"][0]
    assert slo["verdict"] == "fail" and slo["value"] == 2


def test_a_new_app_pid_restarts_the_app_counter_even_when_it_grew_past_the_old_value() -> None:
    """Old process counted 3; the restarted one has already counted 5 at its first sample:
    that is 5 new errors (3 + 5 = 8 in all), not 2."""
    samples = [{"t_s": 1.0, "app_errors_unhandled": 3, "app_proc": {"pid": 10}},
               {"t_s": 2.0, "app_errors_unhandled": 5, "app_proc": {"pid": 11}},
               {"t_s": 3.0, "app_errors_unhandled": 6, "app_proc": None},
               {"t_s": 4.0, "app_errors_unhandled": 6, "app_proc": {"pid": 11}}]
    incs = counter_increments(samples_of(samples), "app_errors_unhandled", per_process=True)
    assert incs == [(1.0, 3.0), (2.0, 5.0), (3.0, 1.0)]
    assert sum(v for _, v in counter_increments(samples_of(samples), "app_errors_unhandled")) == 6


def test_probe_and_process_checks_are_not_measured_without_their_evidence(tmp_path: Path) -> None:
    """A service given by URL with no probes and no stats: uptime, crashes, startup, memory
    warnings and the app's own error count are not measured (None), never a pass; each clean
    sample is no evidence of anything. A timed-out readiness probe is down, not unknown."""
    from harness.verify import verify_run

    b = RunDirBuilder(tmp_path).bounds()
    b.run["app"] = {"exits": [], "kind": "url", "probes": {"live": None, "ready": None,
                                                           "stats": None}}
    steady_load(b, 5.0, 65.0)
    for t in range(0, 66):
        b.sample(float(t), ready=None, live=None, app_proc=None)
    m = verify_run(b.write())["metrics"]["run"]
    for name in ("uptime", "crashes", "startup_seconds", "memory_warnings_per_hour",
                 "unhandled_errors", "pool_saturation", "task_queue_overflow"):
        assert m[name] is None, name
    assert m["availability"] == 1.0  # what the load measured is still judged

    b2 = RunDirBuilder(tmp_path / "frozen").bounds()
    steady_load(b2, 5.0, 65.0)
    for t in range(0, 66):
        frozen = 30 <= t < 40
        b2.sample(float(t), ready=None if frozen else True, live=None if frozen else True,
                  missing=["ready", "live"] if frozen else [])
    assert verify_run(b2.write())["metrics"]["run"]["uptime"] == 56 / 66  # 10 of 66 frozen
