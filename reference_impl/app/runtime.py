"""The state of one running app: configuration, the profile's backend, request accounting.

``AppRuntime`` is created by ``create_app`` and hung on ``app.state.runtime``;
routes reach it through ``deps.get_runtime``. It holds what both profiles share
(the in-flight counter, the concurrency gate, HTTP metrics, the draining flag)
and delegates everything profile-specific to a ``Backend``: the resilient one
(``backend_resilient``) starts a dependency graph of services, the naive one
(``backend_naive``) does what the "before" code did. No module globals: two
apps in one process are independent.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol

import asyncpg

from reference_impl.app.gate import ConcurrencyGate, InFlight
from reference_impl.app.metrics import HttpMetrics
from reference_impl.app.middleware import RequestPolicy
from reference_impl.app.planted_bad_writes import EveryNth
from reference_impl.app.planted_connection_leak import ConnectionLeak
from reference_impl.app.planted_write_behind import WriteBehind
from reference_impl.app.store import Store
from reference_impl.config import AppConfig

__all__ = ["AppRuntime", "Backend", "Readiness"]

CONNECT_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Readiness:
    """Whether the app should receive traffic, and if not, why and when to ask again."""

    ready: bool
    reasons: list[str] = field(default_factory=list)
    retry_after_s: float = 1.0


class Backend(Protocol):
    """What a profile provides; see ``backend_resilient`` and ``backend_naive``."""

    name: str

    async def start(self) -> None:
        """Called from the ASGI lifespan; must return quickly unless the profile blocks."""
        ...

    async def stop(self, timeout_s: float) -> None:
        """Stop tasks, close the pool; bounded by ``timeout_s``."""
        ...

    def store(self) -> Store:
        """The store, or raise ``NotReady`` while the database is not usable yet."""
        ...

    def readiness(self) -> Readiness: ...

    def submit(self, name: str, factory: Callable[[], Awaitable[Any]]) -> str:
        """Queue a background task; may raise ``QueueFullError``."""
        ...

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """Start a fire-and-forget task (resilient: keeps a reference, records failures)."""
        ...

    def record_error(self, exc: BaseException, source: str) -> None:
        """Count and log an error that reached the top of a handler, task or thread."""
        ...

    def errors(self, limit: int, error_type: str | None) -> list[dict[str, Any]]: ...

    def reset_breakers(self) -> list[str]: ...

    def stats(self) -> dict[str, Any]:
        """pool, breakers, tasks, errors_unhandled, error_counts, memory, startup, schema."""
        ...

    def memory_snapshot(self) -> dict[str, Any]:
        """A tracemalloc diff (docs/run-directory.md memory/diff-NNNN.json)."""
        ...


class AppRuntime:
    """One app's live state (see the module docstring)."""

    def __init__(self, config: AppConfig, backend: Backend) -> None:
        self.config = config
        self.backend = backend
        self.started_monotonic = time.monotonic()
        self.inflight = InFlight()
        self.metrics = HttpMetrics()
        resilient = config.profile == "resilient"
        self.gate = ConcurrencyGate(config.gate_limit, config.gate_waiting) if resilient else None
        self.policy = RequestPolicy(
            inflight=self.inflight, metrics=self.metrics, slow_request_s=config.slow_request_s,
            gate=self.gate, deadline_s=config.request_deadline_s if resilient else None,
            on_error=backend.record_error if resilient else None,
        )
        self.draining = False
        self.drain_started: float | None = None
        # Planted faults (negative controls of the harness): None unless switched on.
        self.write_behind = (WriteBehind(backend.store, backend.spawn)
                             if config.plant_write_behind else None)
        self.connection_leak = (
            ConnectionLeak(config.plant_connection_leak, config.plant_connection_leak_max,
                           self._open_unpooled, backend.spawn)
            if config.plant_connection_leak > 0 else None)
        self.reject_after_commit = EveryNth(config.plant_reject_after_commit)
        self.ghost_write = EveryNth(config.plant_ghost_write)

    async def _open_unpooled(self) -> Any:
        """A connection outside the pool, through the same database URL (the planted leak)."""
        return await asyncpg.connect(self.config.dsn, timeout=CONNECT_TIMEOUT_S,
                                     server_settings=self.config.db.server_settings)

    def begin_drain(self) -> None:
        """Readiness answers 503 from now on; requests already admitted still complete."""
        if not self.draining:
            self.draining = True
            self.drain_started = time.monotonic()

    def readiness(self) -> Readiness:
        if self.draining and self.config.profile == "resilient":
            return Readiness(False, ["draining: shutting down"], 5.0)
        return self.backend.readiness()

    def uptime_s(self) -> float:
        return time.monotonic() - self.started_monotonic

    def stats(self) -> dict[str, Any]:
        """The body of /api/monitoring/stats (also read by /metrics)."""
        ready = self.readiness()
        deadlines = self.policy.deadlines
        out: dict[str, Any] = {
            "profile": self.config.profile, "uptime_s": round(self.uptime_s(), 3),
            "ready": ready.ready, "not_ready_reasons": ready.reasons,
            "draining": self.draining, "in_flight": self.inflight.count,
            "gate": self.gate.stats() if self.gate else None,
            "http": {"requests": self.metrics.total,
                     "by_status": {str(k): v for k, v in sorted(self.metrics.by_status.items())},
                     "slow_requests": self.policy.slow_requests,
                     "deadlines_fired": deadlines.fired if deadlines is not None else 0},
        }
        out.update(self.backend.stats())
        planted = {name: part.stats() for name, part in (
            ("write_behind", self.write_behind), ("connection_leak", self.connection_leak))
            if part is not None}
        if planted:
            out["planted"] = planted
        return out
