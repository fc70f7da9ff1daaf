"""Count Postgres client connections from ``pg_stat_activity``, by state and by application.

One dedicated asyncpg connection, straight to Postgres (not through the fault
proxy), with a short ``statement_timeout`` and a client-side timeout around
each sample. Any failure or timeout (Postgres down, restarting, frozen) drops
the connection without waiting (``terminate``) and the next sample reconnects,
so a Postgres restart costs the observer only the ticks while it was down.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import asyncpg

__all__ = ["OBSERVER_APPLICATION_NAME", "PgActivitySampler"]

OBSERVER_APPLICATION_NAME = "chaosharness-observer"

_ACTIVITY_SQL = """
select coalesce(state, 'unknown') as state,
       coalesce(application_name, '') as application,
       count(*)::int as n
from pg_stat_activity
where backend_type = 'client backend' and pid <> pg_backend_pid()
group by 1, 2
"""


class PgActivitySampler:
    """Samples ``pg_stat_activity`` on one reused connection; not safe for concurrent calls."""

    def __init__(self, dsn: str, app_name: str, timeout_s: float = 0.5) -> None:
        self.dsn = dsn
        self.app_name = app_name
        self.timeout_s = timeout_s
        self._conn: asyncpg.Connection | None = None
        self._max_connections: int | None = None

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

    async def sample(self) -> dict[str, Any]:
        """Connection counts now. Raises (``TimeoutError``, OS or asyncpg errors) on no answer."""
        try:
            async with asyncio.timeout(self.timeout_s):
                if self._conn is None or self._conn.is_closed():
                    self._conn = await self._connect()
                rows = await self._conn.fetch(_ACTIVITY_SQL)
        except BaseException:
            self.drop()
            raise
        by_state: dict[str, int] = {}
        by_application: dict[str, int] = {}
        for row in rows:
            state, application, n = row["state"], row["application"], row["n"]
            by_state[state] = by_state.get(state, 0) + n
            by_application[application] = by_application.get(application, 0) + n
        return {
            "total": sum(by_state.values()),
            "by_state": by_state,
            "by_application": by_application,
            "app": by_application.get(self.app_name, 0),
            "max_connections": self._max_connections,
        }

    def drop(self) -> None:
        """Forget the connection at once (no network wait: the server may be frozen)."""
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            conn.terminate()

    async def close(self) -> None:
        """Close the connection politely, bounded by the sample timeout."""
        conn, self._conn = self._conn, None
        if conn is None or conn.is_closed():
            return
        try:
            await conn.close(timeout=self.timeout_s)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
            with contextlib.suppress(Exception):
                conn.terminate()
