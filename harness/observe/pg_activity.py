"""Count Postgres client connections from ``pg_stat_activity``: by state, by application,
and the service's own (``app``).

The service's connections are counted by where they come from: a callable
(``client_sockets``) names the client ends ``(address, port)`` of the fault
proxy's sockets to Postgres (see :mod:`harness.observe.proxy_conns`), and every
backend whose ``(client_addr, client_port)`` is one of them is the service's
(``app_by: "proxy"``). Only when that callable says no proxy process is known
(it returns ``None``: a remote proxy given by URL, or no callable at all) are
the connections whose ``application_name`` is ``app_name`` counted instead
(``app_by: "application_name"``), and only if there are any: a service that does
not set that name would otherwise read as holding no connection at all. When
neither counts, or the proxy could not be read in time, ``app`` is ``None``
(``app_by: None``), never 0. The callable runs in a worker thread under its own
timeout, at the same time as the query.

One dedicated asyncpg connection, straight to Postgres (not through the fault
proxy), with a short ``statement_timeout`` and a client-side timeout around
each sample. Any failure or timeout (Postgres down, restarting, frozen) drops
the connection without waiting (``terminate``) and the next sample reconnects,
so a Postgres restart costs the observer only the ticks while it was down.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import time
from collections.abc import Callable, Collection
from typing import Any

import asyncpg

from harness.observe.proxy_conns import ClientSocket, normalize_addr

__all__ = ["OBSERVER_APPLICATION_NAME", "ClientSockets", "PgActivitySampler"]

#: Returns the service's client ends as Postgres sees them, or ``None`` when no proxy
#: process is known (then ``application_name`` is the fallback); raising means "unknown now".
ClientSockets = Callable[[], Collection[ClientSocket] | None]

OBSERVER_APPLICATION_NAME = "chaosharness-observer"

_ACTIVITY_SQL = """
select coalesce(state, 'unknown') as state,
       coalesce(application_name, '') as application,
       coalesce(host(client_addr), '') as addr,
       coalesce(client_port, -1) as port,
       count(*)::int as n
from pg_stat_activity
where backend_type = 'client backend' and pid <> pg_backend_pid()
group by 1, 2, 3, 4
"""

_UNKNOWN = object()  # the proxy's sockets could not be read this time


class PgActivitySampler:
    """Samples ``pg_stat_activity`` on one reused connection; not safe for concurrent calls."""

    def __init__(
        self, dsn: str, app_name: str | None = None, timeout_s: float = 0.5, *,
        client_sockets: ClientSockets | None = None, sockets_timeout_s: float | None = None,
    ) -> None:
        self.dsn = dsn
        self.app_name = app_name
        self.timeout_s = timeout_s
        self.client_sockets = client_sockets
        self.sockets_timeout_s = timeout_s if sockets_timeout_s is None else sockets_timeout_s
        self._conn: asyncpg.Connection | None = None
        self._max_connections: int | None = None
        self._sockets_pending: asyncio.Future[Any] | None = None
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None

    async def _connect(self) -> asyncpg.Connection:
        statement_ms = max(50, int(self.timeout_s * 800))
        conn = await asyncpg.connect(
            self.dsn,
            timeout=self.timeout_s,
            statement_cache_size=0,
            server_settings={
                "application_name": OBSERVER_APPLICATION_NAME,
                "statement_timeout": str(statement_ms),
                "lock_timeout": str(statement_ms),
            },
        )
        try:
            self._max_connections = int(await conn.fetchval("show max_connections"))
        except BaseException:
            conn.terminate()
            raise
        return conn

    async def sample(self) -> dict[str, object]:
        """Connection counts now. Raises (``TimeoutError``, OS or asyncpg errors) on no answer.

        ``app`` is the service's connections and ``app_by`` how they were counted
        (``"proxy"``, ``"application_name"``, or ``None`` with ``app`` ``None``).
        """
        began = time.monotonic()
        sockets = self._start_sockets()
        try:
            async with asyncio.timeout(self.timeout_s):
                if self._conn is None or self._conn.is_closed():
                    self._conn = await self._connect()
                rows = await self._conn.fetch(_ACTIVITY_SQL)
        except BaseException:
            self.drop()
            raise
        mine = await self._finish_sockets(sockets, began)
        by_state: dict[str, int] = {}
        by_application: dict[str, int] = {}
        through_proxy = 0
        wanted = ({(normalize_addr(a), int(p)) for a, p in mine}
                  if mine is not None and mine is not _UNKNOWN else set())
        for row in rows:
            state, application, n = row["state"], row["application"], row["n"]
            by_state[state] = by_state.get(state, 0) + n
            by_application[application] = by_application.get(application, 0) + n
            if (normalize_addr(row["addr"]), row["port"]) in wanted:
                through_proxy += n
        app: int | None = None
        app_by: str | None = None
        if mine is _UNKNOWN:
            pass  # a proxy is known but could not be read: unknown, not a guess by name
        elif mine is not None:
            app, app_by = through_proxy, "proxy"
        elif self.app_name and by_application.get(self.app_name):
            app, app_by = by_application[self.app_name], "application_name"
        return {
            "total": sum(by_state.values()),
            "by_state": by_state,
            "by_application": by_application,
            "app": app,
            "app_by": app_by,
            "max_connections": self._max_connections,
        }

    def _start_sockets(self) -> asyncio.Future[Any] | object | None:
        """Ask ``client_sockets`` in a worker thread: its future, ``None`` when there is no
        callable, ``_UNKNOWN`` while an earlier call is still stuck (a slow ``/proc`` read;
        it is not called again, and its late answer would be stale)."""
        if self.client_sockets is None:
            return None
        pending = self._sockets_pending
        if pending is not None and not pending.done():
            return _UNKNOWN
        if self._executor is None:
            self._executor = concurrent.futures.ThreadPoolExecutor(
                1, thread_name_prefix="pg-activity-sockets")
        fut = asyncio.get_running_loop().run_in_executor(self._executor, self.client_sockets)
        self._sockets_pending = fut
        return fut

    async def _finish_sockets(self, fut: asyncio.Future[Any] | object | None,
                              began: float) -> Any:
        """The callable's answer: its sockets, ``None`` (no proxy known, or no callable), or
        ``_UNKNOWN`` (it raised or did not answer within ``sockets_timeout_s``)."""
        if not isinstance(fut, asyncio.Future):
            return fut
        left = self.sockets_timeout_s - (time.monotonic() - began)
        try:
            return await asyncio.wait_for(asyncio.shield(fut), max(0.0, left))
        except Exception:  # noqa: BLE001 - timed out, proxy gone, /proc unreadable: unknown
            return _UNKNOWN

    def drop(self) -> None:
        """Forget the connection at once (no network wait: the server may be frozen)."""
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            conn.terminate()

    async def close(self) -> None:
        """Close the connection politely, bounded by the sample timeout (and let go of the
        sockets worker without waiting for a call stuck in it)."""
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
        conn, self._conn = self._conn, None
        if conn is None or conn.is_closed():
            return
        try:
            await conn.close(timeout=self.timeout_s)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
            with contextlib.suppress(Exception):
                conn.terminate()
