"""Postgres restarted under a stream of writes (its own Postgres: this one is stopped)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from app_proc import RunningApp, create_database, start_app
from writers import WriteStream

from harness.provision.pg_probe import fetch
from harness.provision.postgres import EmbeddedPostgres
from harness.provision.process import Supervisor

pytestmark = pytest.mark.integration

OUTAGE_S = 1.5


class Prober:
    """Samples liveness and readiness every 50 ms in a thread."""

    def __init__(self, app: RunningApp) -> None:
        self.app = app
        self.samples: list[tuple[float, int, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Prober:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.is_set():
            t = time.monotonic()
            self.samples.append((t, self.app.status("/health"), self.app.status("/health/ready")))
            self._stop.wait(0.05)

    def between(self, t0: float, t1: float) -> list[tuple[int, int]]:
        return [(live, ready) for t, live, ready in self.samples if t0 <= t <= t1]


def _session(app: RunningApp) -> str:
    return str(app.post("/api/sessions", json={"user": "w", "room": "stream"}).json()["session_id"])


def _outage(pg: EmbeddedPostgres) -> tuple[float, float]:
    """Stop Postgres (fast), keep it down OUTAGE_S, start it; (down_at, accepting_at)."""
    pg.stop("fast")
    down = time.monotonic()
    time.sleep(OUTAGE_S)
    pg.start()  # returns once a real connection succeeded
    return down, time.monotonic()


@pytest.fixture
def db(own_postgres: EmbeddedPostgres) -> Iterator[str]:
    yield create_database(own_postgres, "restart")


def test_resilient_survives_a_restart_under_writes(
    own_postgres: EmbeddedPostgres, supervisor: Supervisor, db: str
) -> None:
    """During the outage readiness is 503 and liveness 200 throughout; writes resume within
    about a second of Postgres accepting again; every acknowledged key is stored exactly once;
    failed writes were answered 503 (never 500)."""
    app = start_app(supervisor, db, name="restart-resilient")
    app.wait_ready(30)
    stream = WriteStream(app.url, _session(app)).start()
    with Prober(app) as prober:
        time.sleep(1.0)
        down, up = _outage(own_postgres)
        resumed = stream.first_ack_after(up)
        deadline = time.monotonic() + 10
        while resumed is None and time.monotonic() < deadline:
            time.sleep(0.05)
            resumed = stream.first_ack_after(up)
        time.sleep(1.0)
        stream.stop()
    during = prober.between(down + 0.3, up)
    assert during and all(live == 200 for _, live, _ in prober.samples), prober.samples
    assert any(ready == 503 for _, ready in during), during
    assert resumed is not None and resumed - up < 1.0, (resumed, up)
    assert not stream.abandoned
    statuses = {a.status for a in stream.attempts}
    errors = [line for line in app.log().splitlines() if "unhandled_error" in line][:3]
    assert 500 not in statuses and statuses <= {0, 200, 201, 503}, (statuses, errors)
    rows = dict(fetch(db, "select idempotency_key, count(*) from messages group by 1"))
    assert set(stream.acked) <= set(rows), set(stream.acked) - set(rows)
    assert all(count == 1 for count in rows.values())
    assert len(stream.acked) > 20
    app.wait_ready(10)


def test_naive_cannot_tell_it_is_down(
    own_postgres: EmbeddedPostgres, supervisor: Supervisor, db: str
) -> None:
    """Negative control: the naive app keeps saying it is ready while Postgres is down and
    fails writes with 500 (no Retry-After), so a load balancer and a client learn nothing."""
    app = start_app(supervisor, db, name="restart-naive", profile="naive")
    app.wait_ready(30)
    stream = WriteStream(app.url, _session(app)).start()
    with Prober(app) as prober:
        time.sleep(1.0)
        down, up = _outage(own_postgres)
        time.sleep(1.0)
        stream.stop(retry_bound_s=3.0)
    during = prober.between(down + 0.3, up)
    assert during and all(ready == 200 for _, ready in during), during
    failed = {a.status for a in stream.attempts if a.t >= down and a.status not in (200, 201)}
    assert 500 in failed and 503 not in failed, failed
