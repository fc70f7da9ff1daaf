"""Readiness follows the database with no traffic at all: the resilient app's background
health probe (its own Postgres: this one is stopped). Only /health, /health/ready and the
stats are asked, none of which touches the database."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest
from app_proc import RunningApp, create_database, start_app, wait_exit

from harness.provision.postgres import EmbeddedPostgres
from harness.provision.process import Supervisor

pytestmark = pytest.mark.integration


@pytest.fixture
def db(own_postgres: EmbeddedPostgres) -> Iterator[str]:
    yield create_database(own_postgres, "health")


def _monitor(app: RunningApp) -> dict[str, Any]:
    state: dict[str, Any] = app.stats()["health_monitor"]
    return state


def _first_not_ready(app: RunningApp, timeout_s: float) -> tuple[float, Any, list[int]]:
    """Poll every 50 ms until /health/ready answers 503: (seconds, response, liveness seen)."""
    started = time.monotonic()
    live: list[int] = []
    while time.monotonic() - started < timeout_s:
        live.append(app.status("/health"))
        response = app.get("/health/ready", timeout_s=2.0)
        if response.status_code == 503:
            return time.monotonic() - started, response, live
        time.sleep(0.05)
    raise AssertionError(f"still ready {timeout_s} s after Postgres stopped:\n"
                         f"{_monitor(app)}\n{app.child.log_tail(30)}")


@pytest.mark.slow
def test_readiness_follows_the_database_without_traffic(
    own_postgres: EmbeddedPostgres, supervisor: Supervisor, db: str
) -> None:
    """Postgres stopped with no traffic: /health/ready is 503 with Retry-After within 3 s while
    /health stays 200; Postgres back: ready again within a few seconds; SIGTERM with the
    monitor running exits 0 promptly."""
    app = start_app(supervisor, db, name="health-monitor")
    app.wait_ready(30)
    app.wait_for(lambda: _monitor(app)["probes"] >= 2, 5, "two health probes")
    state = _monitor(app)
    assert state["db_up"] is True and state["running"] is True
    assert state["consecutive_failures"] == 0 and state["last_ok_s_ago"] < 2.0
    requests_before = app.stats()["queries"]["latency_ms"]["count"]

    own_postgres.stop("fast")
    try:
        took, response, live = _first_not_ready(app, 3.0)
        assert all(status == 200 for status in live), live
        assert app.status("/health") == 200
        assert int(response.headers["Retry-After"]) >= 1
        reasons = response.json()["reasons"]
        assert any(r.startswith("database down: ") for r in reasons), reasons
        state = _monitor(app)
        assert state["db_up"] is False and state["consecutive_failures"] >= 2, state
        assert state["last_ok_s_ago"] >= took - 0.6, (state, took)
        stats = app.stats()
        assert stats["ready"] is False
        assert stats["breakers"]["database"]["state"] == "closed"  # the probe does not feed it
        assert stats["queries"]["latency_ms"]["count"] == requests_before  # nor the metrics
    finally:
        own_postgres.start()
    back = time.monotonic()
    app.wait_ready(5)
    assert time.monotonic() - back < 5
    state = _monitor(app)
    assert state["db_up"] is True and state["consecutive_failures"] == 0
    assert state["transitions"] == 2

    code = app.terminate(signal.SIGTERM, timeout_s=15)
    assert code == 0, app.child.log_tail(30)
    log = app.log()
    assert "unhandled_error" not in log, log[-3000:]


def test_shutdown_while_the_database_is_down_is_clean(
    own_postgres: EmbeddedPostgres, supervisor: Supervisor, db: str
) -> None:
    """SIGTERM while the monitor keeps failing (Postgres stopped): the probe is cancelled and
    the process still exits 0 within a few seconds (drain grace + a bounded stop)."""
    app = start_app(supervisor, db, name="health-monitor-down")
    app.wait_ready(30)
    own_postgres.stop("fast")
    try:
        _first_not_ready(app, 3.0)
        sent = time.monotonic()
        app.child.signal_process(signal.SIGTERM)
        code = wait_exit(app.child, 10.0)
        elapsed = time.monotonic() - sent
        supervisor.reap(app.child)
    finally:
        own_postgres.start()
    assert code == 0, app.child.log_tail(30)
    assert elapsed < 5.0, elapsed
    assert "unhandled_error" not in app.log()
