"""Postgres fault actions against a real server, each checked by its observable effect."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from types import MappingProxyType
from typing import Any

import asyncpg
import pytest

from harness.errors import FaultError
from harness.faults import postgres as pgf
from harness.faults.actions import FaultEnv
from harness.faults.timeline import Timeline, TimelineLog
from harness.provision.pg_external import DsnPostgres
from harness.provision.pg_probe import can_query, execute, fetch
from harness.provision.postgres import EmbeddedPostgres
from harness.scenario.schema import Fault

pytestmark = pytest.mark.integration


@pytest.fixture
def own_pg(tmp_path: Path) -> Iterator[EmbeddedPostgres]:
    """A server of this test's own (these faults restart or crash it)."""
    with EmbeddedPostgres(log_dir=tmp_path, fsync=False, max_connections=20) as pg:
        yield pg


def test_stop_start_restart_details(own_pg: EmbeddedPostgres) -> None:
    """stop/start/restart each return their detail, and do what they say."""
    assert set(pgf.stop(own_pg, "immediate")) == {"exit_code"}
    assert not can_query(own_pg.dsn, timeout=0.5)
    assert pgf.start(own_pg)["ready_s"] > 0 and can_query(own_pg.dsn)
    assert pgf.restart(own_pg, "fast")["ready_s"] > 0 and can_query(own_pg.dsn)


def test_bad_mode_is_refused(own_pg: EmbeddedPostgres) -> None:
    """An unknown stop mode is a clear error and leaves the server running."""
    with pytest.raises(FaultError, match="smart, fast or immediate"):
        pgf.stop(own_pg, "gentle")
    assert can_query(own_pg.dsn)


def test_crash_and_recovery(own_pg: EmbeddedPostgres) -> None:
    """crash kills the server; a start afterwards runs recovery and data is intact."""
    execute(own_pg.dsn, "create table c (v int)")
    execute(own_pg.dsn, "insert into c values (1)")
    assert pgf.crash(own_pg) == {}
    assert not can_query(own_pg.dsn, timeout=0.5)
    assert pgf.start(own_pg)["ready_s"] > 0
    assert fetch(own_pg.dsn, "select count(*) from c")[0][0] == 1


def test_exhaust_connections_gives_53300_and_release_restores(own_pg: EmbeddedPostgres) -> None:
    """Holding every free slot makes a new connection fail with SQLSTATE 53300; release fixes it."""
    # not a superuser: no reserved slots (and no trust: it logs in with a password)
    execute(own_pg.dsn, f"create role app login password '{own_pg.password}'")
    detail, holder = pgf.exhaust_connections(own_pg)
    assert holder.held == detail["requested"] and detail["error"] is None
    try:
        with pytest.raises(asyncpg.TooManyConnectionsError) as info:
            fetch(own_pg.dsn.replace("//postgres:", "//app:", 1), "select 1")
        assert info.value.sqlstate == "53300"
    finally:
        holder.release()
    assert can_query(own_pg.dsn)


def test_set_max_connections_takes_effect(own_pg: EmbeddedPostgres) -> None:
    """ALTER SYSTEM + restart: the new max_connections is live; a bad value raises."""
    assert pgf.set_max_connections(own_pg, 37)[1] == 37
    assert fetch(own_pg.dsn, "show max_connections")[0][0] == "37"
    with pytest.raises(FaultError, match="5..10000"):
        pgf.set_max_connections(own_pg, -1)


def test_drift_schema_breaks_queries_and_revert_fixes(own_pg: EmbeddedPostgres) -> None:
    """Renaming a column makes a query fail with 42703; renaming back fixes it; re-apply is idempotent."""
    execute(own_pg.dsn, "create table nodes (node_id text)")
    assert pgf.drift_schema(own_pg, "nodes", "node_id", "id") == {"already": False}
    assert pgf.drift_schema(own_pg, "nodes", "node_id", "id") == {"already": True}
    with pytest.raises(asyncpg.UndefinedColumnError) as info:
        fetch(own_pg.dsn, "select node_id from nodes")
    assert info.value.sqlstate == "42703"
    assert pgf.drift_schema(own_pg, "nodes", "id", "node_id") == {"already": False}
    assert fetch(own_pg.dsn, "select count(node_id) from nodes")[0][0] == 0
    with pytest.raises(FaultError, match="identifier"):
        pgf.drift_schema(own_pg, "nodes; drop table x", "a", "b")


def test_drift_writes_its_rollback_sql_before_applying(own_pg: EmbeddedPostgres,
                                                       tmp_path: Path) -> None:
    """The drift action writes the statement that undoes it to the run directory's
    rollback.sql (0600) before it renames anything; the statement, run by hand, undoes the
    drift; the harness' own revert is noted after it."""
    from harness.faults.actions import ACTIONS

    execute(own_pg.dsn, "create table nodes (node_id text)")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    env = FaultEnv(pg=own_pg, app=None, proxy=None, run_dir=run_dir)
    params = {"table": "nodes", "column": "node_id", "new_name": "id"}
    fault = Fault(index=3, action="postgres.drift_schema", at=0.0, for_=1.0,
                  params=MappingProxyType(params))
    seen: list[str] = []
    real = pgf.drift_schema

    def spy(pg: Any, table: str, column: str, new: str) -> dict[str, Any]:
        seen.append((run_dir / "rollback.sql").read_text())
        return real(pg, table, column, new)

    pgf.drift_schema = spy  # type: ignore[assignment]
    try:
        applied = ACTIONS["postgres.drift_schema"](env, fault, params)
    finally:
        pgf.drift_schema = real  # type: ignore[assignment]
    sql = 'alter table "nodes" rename column "id" to "node_id";'
    assert sql in seen[0], seen  # on disk before the rename ran
    assert (run_dir / "rollback.sql").stat().st_mode & 0o777 == 0o600
    execute(own_pg.dsn, sql)  # what a person would do after a harness was killed
    assert fetch(own_pg.dsn, "select count(node_id) from nodes")[0][0] == 0
    execute(own_pg.dsn, 'alter table "nodes" rename column "node_id" to "id"')
    assert applied.undo is not None
    applied.undo()
    assert "reverted by the harness" in (run_dir / "rollback.sql").read_text()
    assert fetch(own_pg.dsn, "select count(node_id) from nodes")[0][0] == 0


def test_terminate_backends_ends_named_connections(own_pg: EmbeddedPostgres) -> None:
    """Only connections with the given application_name are terminated."""
    holder = pgf.ConnectionHolder(own_pg.dsn, 2)
    holder.acquire()
    try:
        assert pgf.terminate_backends(own_pg, "chaosharness-hold") == {"terminated": 2}
        assert pgf.terminate_backends(own_pg, "chaosharness-hold") == {"terminated": 0}
    finally:
        holder.release()


def test_freeze_and_thaw(own_pg: EmbeddedPostgres) -> None:
    """freeze stops every server process; thaw resumes them."""
    detail = pgf.freeze(own_pg)
    try:
        assert len(detail["pids"]) >= 2
        assert not can_query(own_pg.dsn, timeout=0.5)
    finally:
        assert len(pgf.thaw(own_pg)["pids"]) >= 2
    assert can_query(own_pg.dsn)



def test_a_failure_reaches_the_timeline_as_itself(own_pg: EmbeddedPostgres, tmp_path: Path) -> None:
    """No re-wrapping: a drift of a missing column fails in the timeline with the action's
    own FaultError message, and set_max_connections as a role that may not ALTER SYSTEM
    with asyncpg's own exception type and the server's text."""
    execute(own_pg.dsn, f"create role weak login password '{own_pg.password}'")
    weak = DsnPostgres(own_pg.dsn.replace("//postgres:", "//weak:", 1))
    log = TimelineLog(tmp_path / "timeline.jsonl", time.monotonic())
    faults = (
        Fault(index=0, action="postgres.drift_schema", at=0.0, for_=None,
              params=MappingProxyType({"table": "missing", "column": "a", "new_name": "b"})),
        Fault(index=1, action="postgres.set_max_connections", at=0.0, for_=1.0,
              params=MappingProxyType({"value": 50})),
    )
    timeline = Timeline(faults, FaultEnv(pg=weak, app=None, proxy=None), log)
    timeline.start()
    deadline = time.monotonic() + 10.0
    lines: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        lines = [json.loads(x) for x in log.path.read_text().splitlines()] if log.path.exists() else []
        if sum(e["event"] == "apply" for e in lines) == 2:
            break
        time.sleep(0.05)
    timeline.rollback()
    applies = {e["fault"]: e for e in lines if e["event"] == "apply"}
    assert applies[0]["ok"] is False
    assert applies[0]["error"] == "FaultError: drift_schema: column missing.a does not exist"
    assert applies[1]["ok"] is False
    assert applies[1]["error"].startswith("InsufficientPrivilegeError: "), applies[1]["error"]
