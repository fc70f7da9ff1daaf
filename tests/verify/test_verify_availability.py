"""Phases, availability, recovery time and time to detect on hand-made runs with known answers."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from verifykit import RunDirBuilder, samples_of, steady_load

from harness.verify.availability import (
    RecoveryRule,
    TimeSeries,
    detect_time,
    recovery_point,
    request_metrics,
    tally,
)
from harness.verify.phases import Phase, PhaseIndex, build_phases, run_bounds
from harness.verify.requests import RequestTable, read_requests
from harness.verify.rundir import RunFiles
from harness.verify.windows import FaultWindow, fault_windows
from harness.verify.writes import WriteLedger


def _table(b: RunDirBuilder) -> RequestTable:
    root = b.write()
    return read_requests(root / "requests.csv", WriteLedger())


def test_recovery_time_is_to_the_first_sustained_success(tmp_path: Path) -> None:
    """Fault removed at 30 s; requests fail until 33 s, one lucky success at 31 s is followed
    by failures (not sustained), then all succeed: recovery must be 3.0 s, and a 5 s window
    at >= 99 % ok must be what proved it."""
    b = RunDirBuilder(tmp_path)
    steady_load(b, 30.0, 33.0, status=503)
    b.request(31.05, status=200)
    steady_load(b, 33.0, 60.0)
    series = TimeSeries.from_table(_table(b))
    point, ev = recovery_point(series, 30.0, 60.0, RecoveryRule())
    assert point is not None and abs(point - 33.0) < 1e-9
    assert ev["window_requests"] == 50 and ev["window_ok"] == 50


def test_not_recovered_when_the_load_ends_first(tmp_path: Path) -> None:
    """Success starts 2 s before the load ends: no full 5 s window, so no recovery is claimed."""
    b = RunDirBuilder(tmp_path)
    steady_load(b, 30.0, 58.0, status=0)
    steady_load(b, 58.0, 60.0)
    point, ev = recovery_point(TimeSeries.from_table(_table(b)), 30.0, 60.0, RecoveryRule())
    assert point is None and ev["after_ok"] == 20


def test_detect_time_from_readiness_or_breaker() -> None:
    """Applied at 10 s; readiness stays 200 until the breaker opens at 12.5 s: detect = 2.5 s.
    A fault nobody notices is not detected (None), never 0."""
    w = FaultWindow(0, None, "postgres.stop", {}, 10.0, 15.0, True, None)
    samples = [{"t_s": float(t), "ready": True, "breaker": "closed"} for t in range(0, 12)]
    samples.append({"t_s": 12.5, "ready": True, "breaker": "open"})
    got, ev = detect_time(w, samples_of(samples), 20.0)
    assert got == 2.5 and ev["signal"] == "breaker open"
    assert detect_time(w, samples_of(samples[:12]), 20.0)[0] is None


def test_detect_time_from_the_first_503_response(tmp_path: Path) -> None:
    """Samples tick every second and see nothing, but the app answered 503 to a request
    that started at 10.2 s and took 50 ms: detected at 10.25 s, 0.25 s after the fault.
    A 503 that ended before the fault does not count."""
    b = RunDirBuilder(tmp_path)
    b.request(9.0, status=503, latency_ms=10.0).request(10.0, status=200)
    b.request(10.2, status=503, latency_ms=50.0).request(10.3, status=503, latency_ms=1.0)
    table = _table(b)
    w = FaultWindow(0, None, "postgres.restart", {}, 10.0, 10.5, True, None)
    samples = [{"t_s": float(t), "ready": True} for t in range(0, 20)]
    got, ev = detect_time(w, samples_of(samples), 20.0, table, TimeSeries.from_table(table))
    assert got is not None and abs(got - 0.25) < 1e-9
    assert ev["signal"] == "first 503 response"


def test_phases_split_warmup_steady_fault_recovery(tmp_path: Path) -> None:
    """Timeline: load 5..65 with a 5 s warm-up (so warm-up ends at 10), fault 0 at 20..25
    with Postgres ready at 26, recovered at 28, fault 1 at 40 never removed. Phases must
    tile 0..65 with the recovery counted from postgres_ready and the last fault lasting to
    the end."""
    b = RunDirBuilder(tmp_path).bounds()
    b.fault(0, "postgres.stop", 20.0, 25.0).event("postgres_ready", 26.0)
    b.fault(1, "network.latency", 40.0, None)
    files = RunFiles(b.write())
    warm, end = run_bounds(files.timeline(), files.run_info())
    windows = fault_windows(files.timeline())
    assert (warm, end) == (10.0, 65.0)
    assert windows[0].recovery_from == "postgres_ready" and windows[0].recovery_from_s == 26.0
    phases = build_phases(windows, {0: 28.0, 1: None}, warm, end)
    got = [(p.kind, p.start_s, p.end_s) for p in phases]
    assert got == [("warmup", 0.0, 10.0), ("steady", 10.0, 20.0), ("fault", 20.0, 25.0),
                   ("recovery", 25.0, 28.0), ("steady", 28.0, 40.0), ("fault", 40.0, 65.0)]
    assert phases[3].name == "recovery-0" and phases[5].fault == 1


def test_a_fault_removed_by_the_rollback_has_no_recovery(tmp_path: Path) -> None:
    """A fault still active at load end is removed by the rollback (and a postgres_ready is
    logged while collecting): there is no load left to recover, so no recovery start."""
    b = RunDirBuilder(tmp_path).bounds()
    b.fault(0, "postgres.stop", 50.0, None)
    b.event("remove", 65.5, fault=0, action="postgres.stop", params={}, ok=True, rollback=True)
    b.event("postgres_ready", 66.0, cause="collect")
    files = RunFiles(b.write())
    (w,) = fault_windows(files.timeline(), 65.0)
    assert w.rolled_back and w.recovery_from_s is None


def test_overlapping_faults_and_recovery_cut_by_the_next_fault() -> None:
    """A recovery that has not ended when the next fault starts is cut there; fault windows
    overlapping each other merge into fault time with the first fault's name."""
    w0 = FaultWindow(0, None, "a", {}, 10.0, 20.0, True, None, 20.0)
    w1 = FaultWindow(1, None, "b", {}, 15.0, 22.0, True, None, 22.0)
    w2 = FaultWindow(2, None, "c", {}, 30.0, 31.0, True, None, 31.0)
    phases = build_phases([w0, w1, w2], {0: None, 1: None, 2: 33.0}, 0.0, 40.0)
    kinds = [(p.kind, p.start_s, p.end_s) for p in phases]
    assert kinds == [("steady", 0.0, 10.0), ("fault", 10.0, 20.0), ("fault", 20.0, 22.0),
                     ("recovery", 22.0, 30.0), ("fault", 30.0, 31.0), ("recovery", 31.0, 33.0),
                     ("steady", 33.0, 40.0)]
    assert sum(p.duration_s for p in phases) == 40.0


_phase_bounds = st.lists(st.floats(min_value=0.5, max_value=99.5), min_size=0, max_size=6,
                         unique=True).map(sorted)
_rows = st.lists(st.tuples(st.floats(min_value=0, max_value=100), st.booleans(),
                           st.sampled_from(["", "timeout", "connection", "http_503"])),
                 max_size=80)


@settings(max_examples=150, deadline=None)
@given(bounds=_phase_bounds, rows=_rows,
       kinds=st.lists(st.sampled_from(["steady", "fault", "recovery"]), min_size=7, max_size=7))
def test_availability_per_phase_matches_brute_force(
    bounds: list[float], rows: list[tuple[float, bool, str]], kinds: list[str]
) -> None:
    """Random phases and requests: every phase kind's availability, request count and error
    classes equal a naive count of the rows whose start lies in that kind's intervals."""
    edges = [0.0, *bounds, 100.0]
    phases = [Phase(f"p{i}", kinds[i], lo, hi) for i, (lo, hi) in
              enumerate(zip(edges, edges[1:], strict=False))]
    index = PhaseIndex(phases)
    table = RequestTable()
    for t, ok, err in rows:
        table.t_s.append(t)
        table.latency_ms.append(1.0)
        table.status.append(200 if ok else 503)
        table.ok.append(int(ok))
        table.error_code.append(0 if ok else table.code(table.errors, err or "other"))
        table.name_code.append(0)
    by_kind, _ = request_metrics(table, index, tally(table, index))

    def kind_of(t: float) -> str:
        inside = [p for p in phases if p.start_s <= t < p.end_s]
        return inside[0].kind if inside else phases[-1].kind

    for kind in set(kinds[: len(phases)]):
        mine = [(ok, err) for t, ok, err in rows if kind_of(t) == kind]
        block = by_kind[kind]
        assert block["requests"] == len(mine)
        if mine:
            assert block["availability"] == sum(ok for ok, _ in mine) / len(mine)
        else:
            assert block["availability"] is None
        failures = [err or "other" for ok, err in mine if not ok]
        assert sum(block["errors_by_class"].values()) == len(failures)
    assert by_kind["run"]["requests"] == len(rows)


def test_a_fault_nested_in_another_recovers_from_the_outer_removal(tmp_path: Path) -> None:
    """Postgres down 10..22 s; the app killed and restarted inside that (12..13.8 s): the app
    fault cannot recover before Postgres is back, so its recovery counts from 22 s (naming
    the outer fault). With the outer fault only removed by the rollback, the inner one's
    recovery cannot be measured at all."""
    b = RunDirBuilder(tmp_path / "a").bounds()
    b.fault(0, "postgres.stop", 10.0, 22.0).fault(1, "app.kill", 12.0, 13.8)
    w0, w1 = fault_windows(RunFiles(b.write()).timeline(), 65.0)
    assert w1.recovery_from_s == 22.0 and w1.recovery_from == "fault-0 removed"
    assert w0.recovery_from_s == 22.0 and w0.recovery_from == "removed"
    b = RunDirBuilder(tmp_path / "b").bounds()
    b.fault(0, "postgres.stop", 50.0, None).fault(1, "app.kill", 52.0, 53.8)
    b.event("remove", 65.5, fault=0, action="postgres.stop", params={}, ok=True, rollback=True)
    w0, w1 = fault_windows(RunFiles(b.write()).timeline(), 65.0)
    assert w0.recovery_from_s is None and w1.recovery_from_s is None
    assert w1.rolled_back and "fault-0" in w1.recovery_from


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(st.tuples(st.floats(min_value=0, max_value=30), st.booleans()),
                     max_size=60),
       start=st.floats(min_value=0, max_value=30), until=st.floats(min_value=0, max_value=40),
       min_ok=st.sampled_from([0.5, 0.9, 0.99, 1.0]))
def test_recovery_point_matches_brute_force(
    rows: list[tuple[float, bool]], start: float, until: float, min_ok: float
) -> None:
    """The first ok request at or after ``start`` whose 5 s window fits before ``until`` and
    holds at least ``min_ok`` ok requests, found by trying every request naively."""
    table = RequestTable()
    for t, ok in rows:
        table.t_s.append(t)
        table.latency_ms.append(1.0)
        table.status.append(200 if ok else 503)
        table.ok.append(int(ok))
        table.error_code.append(0)
        table.name_code.append(0)
    rule = RecoveryRule(window_s=5.0, min_ok=min_ok)
    got, _ = recovery_point(TimeSeries.from_table(table), start, until, rule)
    expected = None
    for t, ok in sorted(rows):
        if t < start or not ok or t + 5.0 > until:
            continue
        window = [o for tt, o in rows if t <= tt < t + 5.0]
        if sum(window) >= min_ok * len(window):
            expected = t
            break
    assert got == expected
