"""Schema drift at startup: the app started against a database at migration 001 (before
``nodes.id`` became ``nodes.node_id``) without auto-migrate."""

from __future__ import annotations

import pytest
from app_proc import start_app

from harness.provision.pg_probe import fetch, run_sync
from harness.provision.process import Supervisor
from reference_impl.db.migrate import migrate_up

pytestmark = pytest.mark.integration


def _migrate(dsn: str, target: int | None) -> list[str]:
    return run_sync(lambda: migrate_up(dsn, target), timeout=30.0)


def test_resilient_names_the_missing_column_then_recovers_after_migration(
    supervisor: Supervisor, fresh_db: str
) -> None:
    """At 001: liveness 200, readiness 503 naming nodes.node_id, API 503 + Retry-After (never an
    undefined-column 500). After an operator migrates, it becomes ready without a restart."""
    _migrate(fresh_db, 1)
    app = start_app(supervisor, fresh_db, name="schema-resilient", args=["--no-migrate"])

    def names_node_id() -> bool:
        ready = app.get("/health/ready")
        return ready.status_code == 503 and "nodes.node_id is missing" in ready.text

    app.wait_for(names_node_id, 20, "readiness naming nodes.node_id")
    ready = app.get("/health/ready")
    assert "run migrations (at 001, latest 003)" in ready.text
    assert int(ready.headers["retry-after"]) >= 1
    assert app.get("/health").status_code == 200
    lookup = app.get("/api/nodes/node-1")
    assert lookup.status_code == 503 and "retry-after" in lookup.headers
    assert "nodes.node_id is missing" in app.log()

    assert _migrate(fresh_db, None) == ["002", "003"]
    app.wait_ready(15)
    assert app.get("/api/nodes/node-1").json()["node_id"] == "node-1"
    assert "UndefinedColumnError" not in app.log()


def test_naive_reports_ready_and_fails_every_lookup(supervisor: Supervisor, fresh_db: str) -> None:
    """Negative control: the naive app validates nothing, says it is ready, and every node
    lookup fails with a 500 (undefined column) instead of a 503 that names the problem."""
    _migrate(fresh_db, 1)
    app = start_app(supervisor, fresh_db, name="schema-naive", profile="naive",
                    args=["--no-migrate"])
    app.wait_ready(20)
    codes = [app.get("/api/nodes/node-1").status_code for _ in range(3)]
    assert codes == [500, 500, 500]
    assert "column \"node_id\" does not exist" in app.log()
    version = fetch(fresh_db, "select max(version) from schema_migrations where success")
    assert version[0][0] == "001"
