"""The planted connection leak: one extra Postgres connection per N requests, never closed.

With ``REFERENCE_IMPL_PLANT_CONNECTION_LEAK=N`` (N > 0) every N-th API request (probes
and monitoring excluded) opens a connection of its own through the app's database URL
(so through the harness' fault proxy, where the harness counts the service's
connections) and keeps it in ``ConnectionLeak.kept`` until the process exits. They are
outside the pool, so once the load has stopped the app holds more connections than its
pool's maximum: the harness' ``connection_leaks`` check must fail
(``scenarios/planted-connection-leak.toml``). At most
``REFERENCE_IMPL_PLANT_CONNECTION_LEAK_MAX`` (default 30) are kept, so Postgres'
``max_connections`` is never reached by the leak. Off (0) by default.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, MutableMapping
from typing import Any

__all__ = ["DEFAULT_CAP", "ConnectionLeak", "ConnectionLeakMiddleware"]

log = logging.getLogger("reference_impl.planted")
DEFAULT_CAP = 30
#: Paths that are not the load's requests: the harness polls them every second.
NOT_COUNTED = ("/health", "/metrics", "/api/monitoring", "/api/chaos")
CONNECT_TIMEOUT_S = 5.0

Connect = Callable[[], Awaitable[Any]]
Spawn = Callable[[Coroutine[Any, Any, Any], str], "asyncio.Task[Any]"]
Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Any, Any], Awaitable[None]]


class ConnectionLeak:
    """Counts requests; every ``every``-th opens and keeps one connection, up to ``cap``."""

    def __init__(self, every: int, cap: int, connect: Connect, spawn: Spawn) -> None:
        if every <= 0 or cap < 0:
            raise ValueError("every must be > 0 and cap >= 0")
        self.every = every
        self.cap = cap
        self._connect = connect
        self._spawn = spawn
        self.requests = 0
        self.opening = 0
        self.failed = 0
        self.kept: list[Any] = []

    def on_request(self) -> None:
        """Count one request; open (in the background) a connection every ``every``-th."""
        self.requests += 1
        if self.requests % self.every or len(self.kept) + self.opening >= self.cap:
            return
        self.opening += 1
        self._spawn(self._open(), "planted-connection-leak")

    async def _open(self) -> None:
        try:
            conn = await self._connect()
        except Exception as exc:  # noqa: BLE001 - a failed open is no leak; count and go on
            self.failed += 1
            log.warning("planted connection leak: could not open a connection: %s", exc)
            return
        finally:
            self.opening -= 1
        self.kept.append(conn)  # never closed: the leak

    def stats(self) -> dict[str, Any]:
        return {"kept": len(self.kept), "cap": self.cap, "every": self.every,
                "requests": self.requests, "failed": self.failed}


class ConnectionLeakMiddleware:
    """Plain ASGI: tells the leak about every HTTP request outside ``NOT_COUNTED``."""

    def __init__(self, app: ASGIApp, leak: ConnectionLeak) -> None:
        self.app = app
        self.leak = leak

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and not str(scope.get("path", "")).startswith(NOT_COUNTED):
            self.leak.on_request()
        await self.app(scope, receive, send)
