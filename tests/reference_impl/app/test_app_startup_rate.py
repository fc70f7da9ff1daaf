"""Startup success rate: the app started 30 times against a Postgres that is down, still
starting, slow or at an old migration, in a seeded random order, three apps at a time.
Ready every time once Postgres is.

- down: Postgres is stopped before the apps start and started 1 s after every app is up
  (listening, for the resilient app) or gone (the naive app exits);
- starting: Postgres is started as soon as the first app is up or gone, so it comes up while
  the apps are connecting;
- slow: 100 ms added to every chunk in each direction by a latency proxy (the schema is
  current: this is about timeouts under latency, not about migrating slowly);
- old_migration: the database is at migration 001; auto-migrate brings it to 003.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator

import pytest
from app_proc import create_database, drop_database, spawn_app
from latency_proxy import LatencyProxy

from harness.provision.pg_probe import run_sync
from harness.provision.postgres import EmbeddedPostgres
from harness.provision.process import ChildProcess, Supervisor
from reference_impl.db.migrate import migrate_up

pytestmark = pytest.mark.integration

CONDITIONS = ("down", "starting", "slow", "old_migration")
APPS_PER_ROUND = 3
READY_WITHIN_S = 15.0  # after Postgres accepts connections
LATENCY_S = 0.10
UP_OR_GONE_TIMEOUT_S = 15.0


def _ready(url: str | None) -> bool:
    import httpx

    if url is None:
        return False
    try:
        return httpx.get(url + "/health/ready", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def _outcomes(children: list[tuple[ChildProcess, Callable[[], str | None]]],
              pg_ready: threading.Event,
              pg_ready_at: list[float]) -> list[bool]:
    """For each app: ready within READY_WITHIN_S of Postgres accepting connections?"""
    pg_ready.wait(60)
    deadline = pg_ready_at[0] + READY_WITHIN_S
    results: dict[int, bool] = {}
    while len(results) < len(children) and time.monotonic() < deadline:
        for i, (child, url) in enumerate(children):
            if i in results:
                continue
            if child.poll() is not None:
                results[i] = False
            elif _ready(url()):
                results[i] = True
        time.sleep(0.05)
    return [results.get(i, False) for i in range(len(children))]


def _wait_up_or_gone(children: list[tuple[ChildProcess, Callable[[], str | None]]],
                     every: bool) -> None:
    """Until every (or any) app is listening or has exited; bounded."""
    done = all if every else any
    deadline = time.monotonic() + UP_OR_GONE_TIMEOUT_S
    while time.monotonic() < deadline:
        if done(child.poll() is not None or url() is not None for child, url in children):
            return
        time.sleep(0.05)


def _round(supervisor: Supervisor, pg: EmbeddedPostgres, condition: str, profile: str,
           n: int) -> list[bool]:
    """Start APPS_PER_ROUND apps under ``condition``; their outcomes."""
    dsn = create_database(pg, "boot")
    if condition in ("old_migration", "slow"):
        run_sync(lambda: migrate_up(dsn, 1 if condition == "old_migration" else None), timeout=30)
    pg_ready, pg_ready_at = threading.Event(), [0.0]

    def start_pg() -> None:
        pg.start()
        pg_ready_at[0] = time.monotonic()
        pg_ready.set()

    if condition in ("down", "starting"):
        pg.stop("fast")
    proxy = LatencyProxy(pg.host, pg.port, LATENCY_S) if condition == "slow" else None
    app_dsn = dsn
    if proxy is not None:
        proxy.__enter__()
        app_dsn = dsn.replace(f":{pg.port}/", f":{proxy.port}/")
    try:
        children = [spawn_app(supervisor, app_dsn, name=f"boot-{profile}-{n}-{i}",
                              profile=profile, env={"REFERENCE_IMPL_DRAIN_GRACE_S": "0"})
                    for i in range(APPS_PER_ROUND)]
        if condition == "down":
            _wait_up_or_gone(children, every=True)
            time.sleep(1.0)
            start_pg()
        elif condition == "starting":
            _wait_up_or_gone(children, every=False)
            threading.Thread(target=start_pg, daemon=True).start()
        else:
            start_pg()
        outcomes = _outcomes(children, pg_ready, pg_ready_at)
        for child, _ in children:
            supervisor.kill(child) if child.alive else supervisor.reap(child)
    finally:
        if proxy is not None:
            proxy.__exit__(None, None, None)
    drop_database(pg, dsn)
    return outcomes


def _schedule(rounds: int, seed: int) -> list[str]:
    order = [CONDITIONS[i % len(CONDITIONS)] for i in range(rounds)]
    random.Random(seed).shuffle(order)
    return order


def _rates(supervisor: Supervisor, pg: EmbeddedPostgres, profile: str, rounds: int
           ) -> tuple[Counter[str], Counter[str]]:
    started: Counter[str] = Counter()
    ready: Counter[str] = Counter()
    for n, condition in enumerate(_schedule(rounds, seed=6)):
        outcomes = _round(supervisor, pg, condition, profile, n)
        started[condition] += len(outcomes)
        ready[condition] += sum(outcomes)
    return started, ready


@pytest.fixture
def pg(own_postgres: EmbeddedPostgres) -> Iterator[EmbeddedPostgres]:
    yield own_postgres
    if own_postgres.status() != "running":
        own_postgres.start()


def test_resilient_is_ready_after_every_start(supervisor: Supervisor, pg: EmbeddedPostgres
                                              ) -> None:
    """30 starts (10 rounds of 3), every condition at least twice: 30/30 ready."""
    started, ready = _rates(supervisor, pg, "resilient", rounds=10)
    assert sum(started.values()) == 30
    assert ready == started, f"ready {dict(ready)} of {dict(started)}"


def test_naive_fails_to_start_when_postgres_is_not_there(supervisor: Supervisor,
                                                         pg: EmbeddedPostgres) -> None:
    """Negative control (12 starts, each condition once): the naive app exits when Postgres is
    down at boot, so its success rate is below 100 %; the rate is reported in the message."""
    started, ready = _rates(supervisor, pg, "naive", rounds=4)
    rate = sum(ready.values()) / sum(started.values())
    report = f"naive startup rate {rate:.0%}: ready {dict(ready)} of {dict(started)}"
    print(report)
    assert ready["down"] == 0, report
    assert rate < 1.0, report
