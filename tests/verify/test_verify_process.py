"""Process checks: restart-safe counters, connection leaks, graceful shutdown, crashes."""

from __future__ import annotations

from pathlib import Path

from verifykit import RunDirBuilder, steady_load

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
    incs = counter_increments(samples, "app_errors_unhandled")
    assert sum(v for _, v in incs) == 7
    assert incs[0] == (1.0, 2.0) and (3.0, 1.0) in incs


def test_connection_leak_is_counted_above_pool_max_and_baseline() -> None:
    """Pool max 10, peak 8 during load, 13 app connections after the run: 3 leaked.
    Ending at 10 (a full idle pool) is no leak."""
    samples = [{"t_s": float(t), "pool": {"max": 10}, "pg_connections": {"app": 8}}
               for t in range(10)]
    samples.append({"t_s": 20.0, "pool": {"max": 10}, "pg_connections": {"app": 13}})
    got = connection_leaks(samples, load_end_s=15.0)
    assert got["value"] == 3 and got["final"] == 13
    samples[-1]["pg_connections"]["app"] = 10
    assert connection_leaks(samples, load_end_s=15.0)["value"] == 0


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
    got = shutdown_checks(exits, files.timeline(), table, TimeSeries.from_table(table))
    assert got["shutdown_5xx"] == 2 and got["shutdown_exit_code"] == 0
    exits.append({"t_s": 50.0, "returncode": -9, "signal": "SIGTERM", "cause": "run_end"})
    got = shutdown_checks(exits, files.timeline(), table, TimeSeries.from_table(table))
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
    crashes = _crashes(exits, files.timeline(), samples, load_end_s=65.0)
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
    got = _startup(samples, events)
    assert got["value"] == 1.5 and got["starts"][1]["from"] == "postgres_ready"
    down = [dict(s, ready=s["t_s"] < 10) for s in samples]
    got = _startup(down, events)
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
    incs = counter_increments(samples, "app_errors_unhandled", per_process=True)
    assert incs == [(1.0, 3.0), (2.0, 5.0), (3.0, 1.0)]
    assert sum(v for _, v in counter_increments(samples, "app_errors_unhandled")) == 6
