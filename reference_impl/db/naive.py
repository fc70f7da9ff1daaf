"""The naive profile's database access: the seeds' "before", done honestly.

A plain asyncpg pool as one writes it on day one: asyncpg's defaults for
everything (no acquire timeout, no command timeout, no ``statement_timeout``),
no circuit breaker, no retry, no metrics beyond what the pool itself knows.
Nothing is sabotaged; it is simply unprotected, which is what the harness must
be able to tell apart from the resilient profile.

It satisfies ``queries.Database``, so the same query functions run on it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

__all__ = ["NaiveDatabase"]


class NaiveDatabase:
    """``asyncpg.create_pool(dsn, max_size=pool_max)`` and direct calls on it."""

    def __init__(self, dsn: str, *, pool_min: int = 2, pool_max: int = 10) -> None:
        self.dsn = dsn
        self.pool_min = pool_min
        self.pool_max = pool_max
        self._pool: asyncpg.Pool | None = None

    @property
    def connected(self) -> bool:
        return self._pool is not None

    def _require_pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("NaiveDatabase.connect() has not been called")
        return self._pool

    async def connect(self) -> None:
        """Create the pool (asyncpg's defaults: a 60 s connect timeout, nothing else bounded)."""
        if self._pool is None:
            self._pool = await asyncpg.create_pool(
                self.dsn, min_size=self.pool_min, max_size=self.pool_max
            )

    async def close(self, timeout_s: float | None = None) -> bool:
        """``pool.close()``: waits for the connections in use, however long (no ``timeout_s``)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()
        return True

    @asynccontextmanager
    async def connection(self, *, streaming: bool = False) -> AsyncIterator[asyncpg.Connection]:
        """``pool.acquire()`` with no timeout: waits as long as the pool is busy."""
        async with self._require_pool().acquire() as conn:
            yield conn

    @asynccontextmanager
    async def transaction(self, *, streaming: bool = False) -> AsyncIterator[asyncpg.Connection]:
        async with self._require_pool().acquire() as conn, conn.transaction():
            yield conn

    async def fetch(
        self, sql: str, *args: Any, timeout: float | None = None, retry: bool = True
    ) -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = await self._require_pool().fetch(sql, *args, timeout=timeout)
        return rows

    async def fetchrow(
        self, sql: str, *args: Any, timeout: float | None = None, retry: bool = True
    ) -> asyncpg.Record | None:
        return await self._require_pool().fetchrow(sql, *args, timeout=timeout)

    async def fetchval(
        self, sql: str, *args: Any, timeout: float | None = None, retry: bool = True
    ) -> Any:
        return await self._require_pool().fetchval(sql, *args, timeout=timeout)

    async def execute(
        self, sql: str, *args: Any, timeout: float | None = None, retry: bool = False
    ) -> str:
        status: str = await self._require_pool().execute(sql, *args, timeout=timeout)
        return status

    def pool_stats(self) -> dict[str, Any]:
        """What a plain pool can tell: size and idle (in_use derived; no waiting count)."""
        pool = self._pool
        size = pool.get_size() if pool is not None else 0
        idle = pool.get_idle_size() if pool is not None else 0
        return {"connected": pool is not None, "size": size, "in_use": size - idle, "idle": idle,
                "waiting": None, "max": self.pool_max, "min": self.pool_min}

    async def health_check(self, timeout_s: float | None = None) -> dict[str, Any]:
        """``select 1`` on the pool, unbounded like everything else here."""
        try:
            await self.fetchval("select 1")
        except Exception as exc:
            return {"ok": False, "error": f"{type(exc).__name__}: {exc}", "breaker": None,
                    "pool": self.pool_stats()}
        return {"ok": True, "error": None, "breaker": None, "pool": self.pool_stats()}
