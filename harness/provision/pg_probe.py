"""Synchronous probes of a Postgres server (used by providers and fault actions).

Each call opens its own asyncpg connection on a private event loop in a worker
thread, so it works from plain code and from inside a running event loop alike.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg

__all__ = ["can_query", "execute", "fetch", "run_sync"]

T = TypeVar("T")


def run_sync(factory: Callable[[], Awaitable[T]], timeout: float) -> T:
    """Run the coroutine made by ``factory`` to completion on a fresh loop in a thread."""

    async def bounded() -> T:
        return await asyncio.wait_for(factory(), timeout)

    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, bounded()).result(timeout + 5.0)


async def _fetch(dsn: str, sql: str, args: tuple[Any, ...], timeout: float) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn, timeout=timeout)
    try:
        return await conn.fetch(sql, *args, timeout=timeout)
    finally:
        await conn.close(timeout=timeout)


def fetch(dsn: str, sql: str, *args: Any, timeout: float = 5.0) -> list[asyncpg.Record]:
    """Run ``sql`` on a new connection and return its rows."""
    return run_sync(lambda: _fetch(dsn, sql, args, timeout), timeout * 2 + 1)


def execute(dsn: str, sql: str, *args: Any, timeout: float = 5.0) -> None:
    """Run a statement on a new connection."""
    fetch(dsn, sql, *args, timeout=timeout)


def can_query(dsn: str, timeout: float = 1.0) -> bool:
    """True when the server accepts a connection and answers ``select 1``."""
    try:
        return fetch(dsn, "select 1", timeout=timeout)[0][0] == 1
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
        return False
