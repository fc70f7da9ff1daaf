"""The naive profile: the seeds' "before", done honestly (the negative control).

What it does, as day-one code does it:

- a plain asyncpg pool (``NaiveDatabase``: no acquire or command timeout, no
  breaker, no retry), opened inline in the lifespan: if Postgres is down at
  boot, startup fails and the process exits;
- migrations applied up to 002 only (it never got the index fix, so messages
  have no unique key) and no schema validation;
- sessions in a dict of this process; every POST inserts a row (no idempotency);
- background work started with bare ``asyncio.create_task`` (no reference kept,
  no error accounting), the plan sweeper even before the pool exists;
- no error boundary (errors are not counted: ``errors_unhandled`` stays 0), no
  readiness logic beyond "the process started", no drain at shutdown.

Nothing is sabotaged; it is simply unprotected.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from reference_impl.app.runtime import Readiness
from reference_impl.app.store import NotReady, Store
from reference_impl.app.store_sql import NaiveStore
from reference_impl.config import AppConfig
from reference_impl.db import queries
from reference_impl.db.migrate import migrate_up
from reference_impl.db.naive import NaiveDatabase
from reference_impl.resilience import MemoryMonitor

__all__ = ["NAIVE_MIGRATION_TARGET", "NaiveBackend"]

log = logging.getLogger("reference_impl.naive")
NAIVE_MIGRATION_TARGET = 2
SWEEP_INTERVAL_S = 5.0


class NaiveBackend:
    """The naive profile's backend (see the module docstring)."""

    name = "naive"

    def __init__(self, config: AppConfig) -> None:
        self.config = config
        self.db = NaiveDatabase(config.dsn, pool_min=config.db.pool_min,
                                pool_max=config.db.pool_max)
        self._store: NaiveStore | None = None
        self._ids = itertools.count(1)
        self.started = False
        # Only for the harness' chaos hook (the snapshot diff); the naive app watches nothing.
        self._snapshots = MemoryMonitor(config.memory_warning_bytes, config.memory_critical_bytes)

    async def start(self) -> None:
        asyncio.create_task(self._sweep_stale_plans())  # noqa: RUF006 - the "before", on purpose
        await self.db.connect()
        if self.config.auto_migrate:
            await migrate_up(self.config.dsn, NAIVE_MIGRATION_TARGET)
        self._store = NaiveStore(self.db)
        self.started = True

    async def _sweep_stale_plans(self) -> None:
        """Mark long-queued plans; started before the pool exists, as the seeds did."""
        while True:
            await queries.update_plan(self.db, "-", status="noop")
            await asyncio.sleep(SWEEP_INTERVAL_S)

    async def stop(self, timeout_s: float) -> None:
        await self.db.close()

    def store(self) -> Store:
        if self._store is None:
            raise NotReady("starting")
        return self._store

    def readiness(self) -> Readiness:
        return Readiness(True) if self.started else Readiness(False, ["starting"])

    def submit(self, name: str, factory: Callable[[], Awaitable[Any]]) -> str:
        async def run() -> Any:
            return await factory()

        asyncio.create_task(run(), name=name)  # noqa: RUF006 - no reference kept: the "before"
        return f"n{next(self._ids)}"

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        return asyncio.create_task(coro, name=name)

    def record_error(self, exc: BaseException, source: str) -> None:
        return None  # no error boundary: nothing is counted

    def errors(self, limit: int, error_type: str | None) -> list[dict[str, Any]]:
        return []

    def reset_breakers(self) -> list[str]:
        return []

    def memory_snapshot(self) -> dict[str, Any]:
        return self._snapshots.snapshot_diff()

    def stats(self) -> dict[str, Any]:
        return {"pool": self.db.pool_stats(), "queries": None, "breakers": {}, "tasks": None,
                "errors_unhandled": 0, "error_counts": {}, "error_rate_per_minute": None,
                "memory": None, "startup": {"app": "up" if self.started else "starting"},
                "schema": None}
