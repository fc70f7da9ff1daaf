"""The fault timeline against a real Postgres: faults applied at their planned times (within
200 ms), removed after their window, failures recorded while the run goes on, and every
fault still active rolled back at the end."""

from __future__ import annotations

import json
import time
from pathlib import Path
from types import MappingProxyType

import pytest

from harness.faults.actions import ACTIONS, FaultEnv
from harness.faults.catalog import FAULTS
from harness.faults.timeline import Timeline, TimelineLog
from harness.provision.pg_external import DsnPostgres
from harness.provision.pg_probe import can_query, execute, fetch
from harness.provision.postgres import EmbeddedPostgres
from harness.scenario.schema import Fault, Repeat


def _fault(index: int, action: str, at: float, for_: float | None = None,
           repeat: Repeat | None = None, **params: object) -> Fault:
    defaults = {k: p.default for k, p in FAULTS[action].params.items()}
    return Fault(index=index, action=action, at=at, for_=for_, repeat=repeat,
                 params=MappingProxyType({**defaults, **params}))


def _events(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_every_catalogue_entry_has_an_implementation() -> None:
    """One source: the catalogue and the implementations name the same faults."""
    assert set(ACTIONS) == set(FAULTS)


@pytest.mark.integration
def test_faults_apply_on_time_and_roll_back(tmp_path: Path) -> None:
    """Provoke: freeze 0.3-0.8 s, a drift with no window, and a process fault on a DSN-only
    server. Must hold: applies within 200 ms of plan, freeze removed after its window, the
    refused fault recorded as failed, the drift reverted by rollback."""
    with EmbeddedPostgres(log_dir=tmp_path / "pg", fsync=False) as pg:
        execute(pg.dsn, "create table nodes (node_id text)")
        t0 = time.monotonic()
        log = TimelineLog(tmp_path / "timeline.jsonl", t0)
        faults = (
            _fault(0, "postgres.freeze", 0.3, 0.5),
            _fault(1, "postgres.drift_schema", 1.0, None, table="nodes", column="node_id", new_name="id"),
        )
        timeline = Timeline(faults, FaultEnv(pg=pg, app=None, proxy=None), log)
        timeline.start()
        time.sleep(0.55)
        assert not can_query(pg.dsn, timeout=0.2), "the server should be frozen inside the window"
        time.sleep(0.9)
        assert can_query(pg.dsn), "the freeze should be removed after its window"
        assert fetch(pg.dsn, "select count(*) from information_schema.columns "
                             "where table_name = 'nodes' and column_name = 'id'")[0][0] == 1
        refused = Timeline((_fault(2, "postgres.stop", 0.0, 1.0),),
                           FaultEnv(pg=DsnPostgres(pg.dsn), app=None, proxy=None), log)
        refused.start()
        time.sleep(0.3)
        assert timeline.rollback() == 1
        refused.rollback()
        assert fetch(pg.dsn, "select count(node_id) from nodes")[0][0] == 0
    events = _events(tmp_path / "timeline.jsonl")
    applies = {e["fault"]: e for e in events if e["event"] == "apply"}
    removes = {e["fault"]: e for e in events if e["event"] == "remove"}
    for i in (0, 1):
        assert applies[i]["ok"] is True
        assert abs(float(applies[i]["t_s"]) - float(applies[i]["planned_t_s"])) < 0.2
    assert abs(float(removes[0]["t_s"]) - 0.8) < 0.3 and removes[0]["rollback"] is False
    assert removes[1]["rollback"] is True and removes[1]["ok"] is True
    assert applies[2]["ok"] is False and "given by DSN" in str(applies[2]["error"])


def test_repeat_applies_each_window(tmp_path: Path) -> None:
    """A flapping fault (repeat) is applied and removed once per window, in order."""
    calls: list[tuple[str, float]] = []
    t0 = time.monotonic()

    def action(env: FaultEnv, fault: Fault, params: object) -> object:
        from harness.faults.actions import Applied

        calls.append(("apply", time.monotonic() - t0))
        return Applied({}, lambda: calls.append(("remove", time.monotonic() - t0)) or {})

    log = TimelineLog(tmp_path / "timeline.jsonl", t0)
    fault = Fault(index=0, action="x", at=0.1, for_=0.1, repeat=Repeat(every=0.3, count=3))
    timeline = Timeline((fault,), FaultEnv(pg=None, app=None, proxy=None), log,  # type: ignore[arg-type]
                        actions={"x": action})  # type: ignore[dict-item]
    timeline.start()
    time.sleep(1.2)
    timeline.rollback()
    assert [c[0] for c in calls] == ["apply", "remove"] * 3
    for k in range(3):
        assert abs(calls[2 * k][1] - (0.1 + 0.3 * k)) < 0.15
    repeats = [e["repeat"] for e in _events(tmp_path / "timeline.jsonl") if e["event"] == "apply"]
    assert repeats == [0, 1, 2]


def test_apply_and_remove_lines_say_what_the_fault_affects(tmp_path: Path) -> None:
    """Every apply/remove line carries the catalogue's ``affects`` and ``undo``, and a link
    fault the link it acts on (its ``proxy`` parameter), so verify never reads the name."""
    from harness.faults.actions import Applied

    def action(env: FaultEnv, fault: Fault, params: object) -> Applied:
        return Applied({}, lambda: {})

    t0 = time.monotonic()
    log = TimelineLog(tmp_path / "timeline.jsonl", t0)
    faults = (_fault(0, "network.down", 0.0, 0.1, proxy="payments"),
              _fault(1, "app.freeze", 0.0, 0.1))
    timeline = Timeline(faults, FaultEnv(pg=None, app=None, proxy=None), log,  # type: ignore[arg-type]
                        actions={"network.down": action, "app.freeze": action})
    timeline.start()
    time.sleep(0.4)
    timeline.rollback()
    lines = [e for e in _events(tmp_path / "timeline.jsonl") if e["event"] in ("apply", "remove")]
    assert len(lines) == 4
    for e in lines:
        want = ({"affects": "link", "link": "payments", "undo": "remove"} if e["fault"] == 0
                else {"affects": "app", "undo": "remove"})
        assert {k: e[k] for k in ("affects", "link", "undo") if k in e} == want


def _recording_timeline(tmp_path: Path, faults: tuple[Fault, ...], calls: list[str],
                        apply_s: float = 0.0) -> Timeline:
    """A timeline whose actions only record (``apply N`` / ``applied N`` / ``undo N``), each
    apply taking ``apply_s``; an undo also records whether the timeline was stopped by then."""
    from harness.faults.actions import Applied

    holder: list[Timeline] = []

    def action(env: FaultEnv, fault: Fault, params: object) -> Applied:
        calls.append(f"apply {fault.index}")
        time.sleep(apply_s)
        calls.append(f"applied {fault.index}")

        def undo() -> dict[str, object]:
            stopped = holder[0]._stop.is_set()
            calls.append(f"undo {fault.index}" + ("" if stopped else " while running"))
            return {}

        return Applied({}, undo)

    log = TimelineLog(tmp_path / "timeline.jsonl", time.monotonic())
    timeline = Timeline(faults, FaultEnv(pg=None, app=None, proxy=None), log,  # type: ignore[arg-type]
                        actions={"x": action})  # type: ignore[dict-item]
    holder.append(timeline)
    return timeline


def test_rollback_stops_the_timeline_before_undoing(tmp_path: Path) -> None:
    """Provoke: roll back while one fault is active and another is still scheduled. Must hold:
    the timeline is stopped before the first undo, the scheduled fault never fires (not even
    after its time), and the undo is recorded as a rollback ``remove`` line."""
    calls: list[str] = []
    faults = (Fault(index=0, action="x", at=0.05, for_=10.0),
              Fault(index=1, action="x", at=0.4, for_=1.0))
    timeline = _recording_timeline(tmp_path, faults, calls)
    timeline.start()
    time.sleep(0.2)
    assert timeline.rollback() == 1
    time.sleep(0.5)
    assert calls == ["apply 0", "applied 0", "undo 0"]
    removes = [e for e in _events(tmp_path / "timeline.jsonl") if e["event"] == "remove"]
    assert [(e["fault"], e["rollback"], e["ok"]) for e in removes] == [(0, True, True)]
    assert timeline.rollback() == 0, "a second rollback has nothing left to undo"


def test_a_fault_being_applied_at_rollback_finishes_then_is_undone(tmp_path: Path) -> None:
    """Provoke: roll back while a fault's apply is under way (0.4 s). Must hold: the rollback
    waits for it and undoes it (apply, applied, undo, in that order)."""
    calls: list[str] = []
    timeline = _recording_timeline(tmp_path, (Fault(index=0, action="x", at=0.0, for_=10.0),),
                                   calls, apply_s=0.4)
    timeline.start()
    time.sleep(0.15)
    assert calls == ["apply 0"]
    assert timeline.rollback() == 1
    assert calls == ["apply 0", "applied 0", "undo 0"]


def test_an_apply_outliving_the_rollback_undoes_itself(tmp_path: Path) -> None:
    """Provoke: an apply (0.6 s) outlives the rollback's bounded wait (0.1 s). Must hold: the
    rollback returns in time, and the fault is undone (a rollback line) as soon as its apply
    returns, never left applied."""
    calls: list[str] = []
    timeline = _recording_timeline(tmp_path, (Fault(index=0, action="x", at=0.0, for_=10.0),),
                                   calls, apply_s=0.6)
    timeline.start()
    time.sleep(0.1)
    started = time.monotonic()
    assert timeline.rollback(timeout=0.1) == 0
    assert time.monotonic() - started < 0.4
    time.sleep(0.8)
    assert calls == ["apply 0", "applied 0", "undo 0"]
    removes = [e for e in _events(tmp_path / "timeline.jsonl") if e["event"] == "remove"]
    assert [(e["fault"], e["rollback"]) for e in removes] == [(0, True)]


def test_rollback_undoes_every_fault_even_when_one_undo_fails(tmp_path: Path) -> None:
    """Provoke: two active faults, the newer one's undo raises. Must hold: both undos are
    tried (newest first) and recorded, the failed one with ``ok: false`` and its error."""
    from harness.faults.actions import Applied

    calls: list[str] = []

    def action(env: FaultEnv, fault: Fault, params: object) -> Applied:
        def undo() -> dict[str, object]:
            calls.append(f"undo {fault.index}")
            if fault.index == 1:
                raise RuntimeError("cannot undo")
            return {}

        return Applied({}, undo)

    log = TimelineLog(tmp_path / "timeline.jsonl", time.monotonic())
    faults = (Fault(index=0, action="x", at=0.0, for_=10.0), Fault(index=1, action="x", at=0.0, for_=10.0))
    timeline = Timeline(faults, FaultEnv(pg=None, app=None, proxy=None), log,  # type: ignore[arg-type]
                        actions={"x": action})  # type: ignore[dict-item]
    timeline.start()
    time.sleep(0.2)
    assert timeline.rollback() == 2
    assert calls == ["undo 1", "undo 0"]
    removes = {e["fault"]: e for e in _events(tmp_path / "timeline.jsonl") if e["event"] == "remove"}
    assert removes[1]["ok"] is False and "cannot undo" in str(removes[1]["error"])
    assert removes[0]["ok"] is True and removes[0]["rollback"] is True
