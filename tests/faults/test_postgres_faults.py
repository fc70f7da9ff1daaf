"""Postgres fault actions against a real server, each checked by its observable effect."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from harness.faults import postgres as pgf
from harness.provision.pg_probe import can_query, execute, fetch
from harness.provision.postgres import EmbeddedPostgres

pytestmark = pytest.mark.integration


@pytest.fixture
def own_pg(tmp_path: Path) -> Iterator[EmbeddedPostgres]:
    """A server of this test's own (these faults restart or crash it)."""
    with EmbeddedPostgres(log_dir=tmp_path, fsync=False, max_connections=20) as pg:
        yield pg


def test_stop_start_restart_records(own_pg: EmbeddedPostgres) -> None:
    """stop/start/restart each return a record with times and outcome, and do what they say."""
    rec = pgf.stop(own_pg, "immediate")
    assert rec.ok and rec.action == "postgres.stop" and rec.params == {"mode": "immediate"}
    assert not can_query(own_pg.dsn, timeout=0.5)
    assert pgf.start(own_pg).ok and can_query(own_pg.dsn)
    rec = pgf.restart(own_pg, "fast")
    assert rec.ok and rec.detail["ready_s"] > 0 and can_query(own_pg.dsn)


def test_bad_mode_is_refused(own_pg: EmbeddedPostgres) -> None:
    """An unknown stop mode is a clear error and leaves the server running."""
    with pytest.raises(Exception, match="smart, fast or immediate"):
        pgf.stop(own_pg, "gentle")
    assert can_query(own_pg.dsn)


def test_crash_record_and_recovery(own_pg: EmbeddedPostgres) -> None:
    """crash kills the server; a start afterwards runs recovery and data is intact."""
    execute(own_pg.dsn, "create table c (v int)")
    execute(own_pg.dsn, "insert into c values (1)")
    assert pgf.crash(own_pg).ok
    assert not can_query(own_pg.dsn, timeout=0.5)
    assert pgf.start(own_pg).ok
    assert fetch(own_pg.dsn, "select count(*) from c")[0][0] == 1


def test_exhaust_connections_gives_53300_and_release_restores(own_pg: EmbeddedPostgres) -> None:
    """Holding every free slot makes a new connection fail with SQLSTATE 53300; release fixes it."""
    execute(own_pg.dsn, "create role app login")  # not a superuser: no reserved slots
    record, holder = pgf.exhaust_connections(own_pg)
    assert record.ok and holder is not None and holder.held == record.detail["requested"]
    try:
        with pytest.raises(asyncpg.TooManyConnectionsError) as info:
            fetch(own_pg.dsn.replace("postgres@", "app@"), "select 1")
        assert info.value.sqlstate == "53300"
    finally:
        holder.release()
    assert can_query(own_pg.dsn)


def test_set_max_connections_takes_effect(own_pg: EmbeddedPostgres) -> None:
    """ALTER SYSTEM + restart: the new max_connections is live."""
    rec = pgf.set_max_connections(own_pg, 37)
    assert rec.ok, rec.error
    assert fetch(own_pg.dsn, "show max_connections")[0][0] == "37"
    assert not pgf.set_max_connections(own_pg, -1).ok


def test_drift_schema_breaks_queries_and_revert_fixes(own_pg: EmbeddedPostgres) -> None:
    """Renaming a column makes a query fail with 42703; renaming back fixes it; re-apply is idempotent."""
    execute(own_pg.dsn, "create table nodes (node_id text)")
    assert pgf.drift_schema(own_pg, "nodes", "node_id", "id").ok
    assert pgf.drift_schema(own_pg, "nodes", "node_id", "id").detail == {"already": True}
    with pytest.raises(asyncpg.UndefinedColumnError) as info:
        fetch(own_pg.dsn, "select node_id from nodes")
    assert info.value.sqlstate == "42703"
    assert pgf.drift_schema(own_pg, "nodes", "id", "node_id").ok
    assert fetch(own_pg.dsn, "select count(node_id) from nodes")[0][0] == 0
    bad = pgf.drift_schema(own_pg, "nodes; drop table x", "a", "b")
    assert not bad.ok and "identifier" in (bad.error or "")


def test_terminate_backends_ends_named_connections(own_pg: EmbeddedPostgres) -> None:
    """Only connections with the given application_name are terminated."""
    holder = pgf.ConnectionHolder(own_pg.dsn, 2)
    holder.acquire()
    try:
        rec = pgf.terminate_backends(own_pg, "chaosharness-hold")
        assert rec.ok and rec.detail["terminated"] == 2
        assert pgf.terminate_backends(own_pg, "chaosharness-hold").detail["terminated"] == 0
    finally:
        holder.release()


def test_freeze_and_thaw_records(own_pg: EmbeddedPostgres) -> None:
    """freeze stops every server process; thaw resumes them."""
    rec = pgf.freeze(own_pg)
    try:
        assert rec.ok and len(rec.detail["pids"]) >= 2
        assert not can_query(own_pg.dsn, timeout=0.5)
    finally:
        assert pgf.thaw(own_pg).ok
    assert can_query(own_pg.dsn)
