"""The resilient profile: services started as a dependency graph, guarded by the whole stack.

Services (``reference_impl.resilience.startup``), each waiting for its deps::

    config ─┬─ error_boundary
            ├─ memory (optional)
            └─ database ── migrations ── schema ─┬─ tasks ── routes ── health_monitor
                                                 └──────────┘

- ``database`` retries until Postgres answers (down at boot: keep trying);
- ``migrations`` applies pending migrations when auto-migrate is on (the
  advisory lock makes concurrent starters safe), else only reads the version;
- ``schema`` validates the live schema against the columns the code uses and
  keeps retrying, naming what is missing, until it matches;
- ``routes`` hands the store to the HTTP layer: before that, API routes answer
  503 + Retry-After and ``/health/ready`` says which service is not up yet;
- ``health_monitor`` (optional) probes the database in the background once
  everything is up (``reference_impl.resilience.health_monitor``: a pooled
  ``select 1`` when a slot is free, every ``health_interval_s``); while
  ``health_failures`` probes in a row have failed, ``/health/ready`` answers 503
  even with no traffic. It is the first service stopped at shutdown.

``start()`` returns at once (the graph runs in a background task), so liveness
answers from the first moment. ``stop()`` cancels an unfinished startup and
stops services in reverse order within the bound.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from reference_impl.app.recovery import RecoveryProber
from reference_impl.app.runtime import Readiness
from reference_impl.app.store import NotReady, Store
from reference_impl.app.store_sql import SqlStore
from reference_impl.config import AppConfig
from reference_impl.db.errors import DatabaseUnavailable, SchemaMismatch
from reference_impl.db.manager import DatabaseManager
from reference_impl.db.migrate import current_version, migrate_up
from reference_impl.resilience import (
    BreakerConfig,
    BreakerRegistry,
    BreakerState,
    ErrorBoundary,
    HealthMonitor,
    MemoryMonitor,
    ProbeInconclusive,
    RetryPolicy,
    Service,
    ServiceGraph,
    StartupError,
    TaskManager,
    sqlstate_of,
)

__all__ = ["DB_BREAKER", "ResilientBackend"]

log = logging.getLogger("reference_impl.startup")
DB_BREAKER = "database"
# Reconnect quickly once Postgres is back: full jitter up to 0.5 s between attempts.
DB_BACKOFF = RetryPolicy(max_attempts=1, base_s=0.05, cap_s=0.5)
# Probe outcomes that say nothing about the database being up (see health_monitor):
# our own pool is busy or not open, not the database's failure.
_PROBE_INCONCLUSIVE = frozenset({"pool_exhausted", "not_connected", "closing"})
_TOO_MANY_CONNECTIONS = "53300"


class ResilientBackend:
    """The resilient profile's backend (see the module docstring)."""

    name = "resilient"

    def __init__(self, config: AppConfig) -> None:
        self.config = config
        self.boundary = ErrorBoundary()
        self.memory = MemoryMonitor(config.memory_warning_bytes, config.memory_critical_bytes,
                                    interval_s=config.memory_interval_s)
        self.breakers = BreakerRegistry(BreakerConfig())
        self.breaker = self.breakers.get_or_create(DB_BREAKER)
        self.db = DatabaseManager(config.db, breaker=self.breaker, retry_policy=RetryPolicy(),
                                  deadline_s=config.request_deadline_s)
        self.schema = self.db.schema  # a runtime 42703 in the manager marks it invalid
        self.recovery = RecoveryProber(self.breaker, config.dsn)
        self.health = HealthMonitor(DB_BREAKER, self._probe_database,
                                    interval_s=config.health_interval_s,
                                    timeout_s=config.health_timeout_s,
                                    failure_threshold=config.health_failures)
        self.tasks = TaskManager(max_queue=config.task_max_queue,
                                 concurrency=config.task_concurrency,
                                 on_error=self._task_failed)
        self.migrated_to: str | None = None
        self.migrations_applied: list[str] = []
        self._store: SqlStore | None = None
        self._startup: asyncio.Task[None] | None = None
        self.graph = ServiceGraph(self._services())

    # -- services ------------------------------------------------------------------------

    def _services(self) -> list[Service]:
        async def nothing() -> None:
            return None

        return [
            Service("config", nothing),
            Service("error_boundary", self._install_boundary, self._uninstall_boundary,
                    deps=("config",)),
            Service("memory", self._start_memory, self.memory.stop, deps=("config",),
                    critical=False),
            Service("database", self.db.connect, self._close_db, deps=("config",),
                    backoff=DB_BACKOFF,
                    attempt_timeout_s=self.config.db.connect_timeout_s + 1.0),
            Service("migrations", self._migrate, deps=("database",), backoff=DB_BACKOFF),
            Service("schema", self._validate_schema, deps=("migrations",)),
            Service("tasks", self.tasks.start, self._stop_tasks, deps=("schema", "memory")),
            Service("routes", self._open_routes, self._close_routes, deps=("tasks", "schema")),
            Service("health_monitor", self.health.start, self.health.stop, deps=("routes",),
                    critical=False),
        ]

    async def _install_boundary(self) -> None:
        self.boundary.install(asyncio.get_running_loop())

    async def _uninstall_boundary(self) -> None:
        self.boundary.uninstall()

    async def _start_memory(self) -> None:
        await self.memory.start()
        self.memory.on_pressure(self.tasks.on_memory_pressure)

    async def _close_db(self) -> None:
        await self.db.close(timeout_s=min(5.0, self.config.drain_timeout_s))

    async def _migrate(self) -> None:
        """Apply pending migrations (auto-migrate) on a connection of its own, outside the pool."""
        if self.config.auto_migrate:
            self.migrations_applied = await migrate_up(self.config.dsn)
            if self.migrations_applied:
                log.info("migrations applied: %s", ", ".join(self.migrations_applied))
        self.migrated_to = await current_version(self.config.dsn)

    async def _validate_schema(self) -> None:
        if not await self.schema.revalidate():
            problems = list(self.schema.problems)
            if self.schema.last_error:
                problems.append(f"check failed: {self.schema.last_error}")
            log.error("schema invalid: %s", "; ".join(problems))
            raise SchemaMismatch(problems)

    async def _stop_tasks(self) -> None:
        cancelled = await self.tasks.shutdown(timeout_s=min(5.0, self.config.drain_timeout_s))
        if cancelled:
            log.info("cancelled %d background tasks at shutdown", cancelled)

    async def _open_routes(self) -> None:
        self._store = SqlStore(self.db, self._on_unavailable)

    async def _close_routes(self) -> None:
        self._store = None

    async def _probe_database(self) -> None:
        """The health monitor's probe: ``DatabaseManager.probe``. Outcomes about our own pool
        are inconclusive; a server that refuses the connection because it is full (53300)
        answered, so it is up: the app serves on the connections it has. (As inconclusive,
        a full server kept readiness down for the whole fault once a restart had marked it
        down, while 95 % of requests were served.)"""
        try:
            await self.db.probe(self.config.health_timeout_s)
        except DatabaseUnavailable as exc:
            if exc.reason == "too_many_connections":
                return
            if exc.reason in _PROBE_INCONCLUSIVE:
                raise ProbeInconclusive(exc.reason) from exc
            raise
        except Exception as exc:
            if sqlstate_of(exc) == _TOO_MANY_CONNECTIONS:
                return
            raise

    def _on_unavailable(self, exc: DatabaseUnavailable) -> None:
        if exc.reason == "unreachable":
            self.recovery.report_unreachable()

    def _task_failed(self, name: str, exc: BaseException) -> None:
        """A task that failed after its retries. The database being unavailable is an
        expected, handled outcome (the breaker and readiness report it): logged, not
        counted as an unhandled error. Anything else goes to the error boundary."""
        if isinstance(exc, DatabaseUnavailable):
            log.warning("task %s gave up after its retries: %s", name, exc)
            return
        self.boundary.record(exc, f"task:{name}")

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        deadline = (time.monotonic() + self.config.startup_timeout_s
                    if self.config.startup_timeout_s > 0 else None)
        self._startup = asyncio.get_running_loop().create_task(self._run_graph(deadline),
                                                               name="startup")

    async def _run_graph(self, deadline: float | None) -> None:
        started = time.monotonic()
        try:
            await self.graph.start_all(deadline)
        except StartupError as exc:
            self.boundary.record(exc, "startup")
            return
        log.info("ready after %.3fs (migrated to %s)", time.monotonic() - started,
                 self.migrated_to)

    async def stop(self, timeout_s: float) -> None:
        if self._startup is not None and not self._startup.done():
            self._startup.cancel()
            await asyncio.wait([self._startup], timeout=1.0)
        await self.recovery.stop()
        problems = await self.graph.stop_all(timeout_s)
        if problems:
            log.warning("services that did not stop cleanly: %s", ", ".join(problems))
        await self.boundary.cancel_tasks(timeout_s=1.0)
        self.memory.stop_tracing()

    # -- serving -------------------------------------------------------------------------

    def store(self) -> Store:
        if self._store is None:
            raise NotReady("starting: " + "; ".join(self._not_up()) or "starting", 1.0)
        if not self.schema.valid:
            raise SchemaMismatch(list(self.schema.problems))
        return self._store

    def _not_up(self) -> list[str]:
        snapshot = self.graph.snapshot()
        out = []
        for name, info in snapshot.items():
            if info["critical"] and info["state"] != "up":
                error = f" ({info['last_error']})" if info["last_error"] else ""
                out.append(f"{name} {info['state']}{error}")
        return out

    def readiness(self) -> Readiness:
        reasons = self._not_up()
        retry_after = 1.0
        if self.graph.ready and not self.schema.valid:
            reasons.append("schema invalid: " + "; ".join(self.schema.problems))
            retry_after = 5.0
            # A schema fixed from outside (an operator ran migrations) is noticed within ~1 s.
            self.boundary.spawn(self.schema.maybe_revalidate(1.0), "schema-revalidate")
        if self.recovery.suspect and self.breaker.state is not BreakerState.OPEN:
            reasons.append("database unreachable")
        if not self.health.up:
            reasons.append(f"database down: {self.health.consecutive_failures} health probes "
                           f"failed in a row ({self.health.last_error})")
        if self.breaker.state is BreakerState.OPEN:
            remaining = self.breaker.retry_after_s()
            reasons.append(f"database circuit open (retry in {remaining:.1f}s)")
            retry_after = max(retry_after, math.ceil(remaining))
        return Readiness(not reasons, reasons, retry_after)

    def submit(self, name: str, factory: Callable[[], Awaitable[Any]]) -> str:
        return self.tasks.submit(name, factory)

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        return self.boundary.spawn(coro, name)

    def record_error(self, exc: BaseException, source: str) -> None:
        self.boundary.record(exc, source)

    def errors(self, limit: int, error_type: str | None) -> list[dict[str, Any]]:
        return self.boundary.recent(limit, error_type)

    def reset_breakers(self) -> list[str]:
        return self.breakers.reset()

    def memory_snapshot(self) -> dict[str, Any]:
        return self.memory.snapshot_diff()

    def stats(self) -> dict[str, Any]:
        sample = self.memory.sample()
        return {
            "pool": self.db.pool_stats(),
            "queries": self.db.query_stats(),
            "breakers": self.breakers.snapshots(),
            "breaker_early_resets": self.recovery.early_resets,
            "tasks": self.tasks.metrics(),
            "errors_unhandled": self.boundary.total,
            "error_counts": self.boundary.counts(),
            "error_rate_per_minute": self.boundary.rate_per_minute(),
            "memory": {**sample, "warnings_total": self.memory.warnings_total,
                       "peak_rss_bytes": self.memory.peak_rss_bytes,
                       "growing_sites": self.memory.growing_sites()},
            "startup": self.graph.states(),
            "schema": {**self.schema.snapshot(), "migrated_to": self.migrated_to},
            "health_monitor": self._health_snapshot(),
        }

    def _health_snapshot(self) -> dict[str, Any]:
        snap = self.health.snapshot()
        return {"db_up": snap.pop("up"), **snap}
