"""The SQLSTATE table against a real Postgres: each error is provoked for real, so the
classification (and the statement-timeout message the table relies on) matches what
asyncpg actually raises."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import pytest

from harness.provision.postgres import EmbeddedPostgres
from reference_impl.resilience.sqlstate import DbErrorKind, classify_db_error, is_undefined_column

pytestmark = pytest.mark.integration


async def _provoke(fn: Callable[[], Awaitable[Any]]) -> BaseException:
    try:
        await fn()
    except BaseException as exc:  # noqa: B036 - we want whatever asyncpg raises
        return exc
    raise AssertionError("expected an error")


def _kind(exc: BaseException) -> tuple[str, bool, bool]:
    kind: DbErrorKind = classify_db_error(exc)
    return kind.error_class, kind.retryable, kind.counts_for_breaker


def test_errors_from_one_session(postgres: EmbeddedPostgres) -> None:
    """Undefined column, unique violation, bad input, statement timeout and a client-side
    timeout are classified as the breaker and retry policy need (a temp table: nothing
    is left behind in the shared database)."""
    async def scenario() -> dict[str, BaseException]:
        conn = await asyncpg.connect(postgres.dsn)
        try:
            await conn.execute("create temp table t (id int primary key, v text)")
            await conn.execute("insert into t values (1, 'a')")
            out = {
                "undefined_column": await _provoke(lambda: conn.fetch("select node_id from t")),
                "unique": await _provoke(lambda: conn.execute("insert into t values (1, 'b')")),
                "bad_input": await _provoke(lambda: conn.fetch("select 'x'::int")),
            }
            await conn.execute("set statement_timeout = 50")
            out["statement_timeout"] = await _provoke(lambda: conn.fetch("select pg_sleep(2)"))
            await conn.execute("set statement_timeout = 0")
            out["client_timeout"] = await _provoke(
                lambda: conn.fetch("select pg_sleep(2)", timeout=0.05))
            return out
        finally:
            await conn.close(timeout=5)

    errors = asyncio.run(scenario())
    assert is_undefined_column(errors["undefined_column"])
    assert _kind(errors["undefined_column"]) == ("schema", False, False)
    assert _kind(errors["unique"]) == ("validation", False, False)
    assert _kind(errors["bad_input"]) == ("validation", False, False)
    assert _kind(errors["statement_timeout"]) == ("timeout", False, True)
    assert _kind(errors["client_timeout"]) == ("timeout", False, True)


def test_lock_timeout_and_deadlock(fresh_db: str) -> None:
    """A lock timeout is a timeout that does not count for the breaker; a deadlock victim
    is retryable and does not count either."""
    async def scenario() -> tuple[BaseException, BaseException]:
        a, b = await asyncpg.connect(fresh_db), await asyncpg.connect(fresh_db)
        try:
            await a.execute("create table r (id int primary key); insert into r values (1), (2)")
            for conn in (a, b):
                await conn.execute("set deadlock_timeout = '50ms'")
            await a.execute("begin; lock table r in access exclusive mode")
            await b.execute("set lock_timeout = 50")
            lock_error = await _provoke(lambda: b.fetch("select * from r"))
            await a.execute("rollback")
            await b.execute("set lock_timeout = 0")
            await a.execute("begin; update r set id = id where id = 1")
            await b.execute("begin; update r set id = id where id = 2")

            async def cross(conn: asyncpg.Connection, row: int) -> BaseException | None:
                try:
                    await conn.execute(f"update r set id = id where id = {row}")
                except asyncpg.PostgresError as exc:
                    error: BaseException = exc
                    return error
                return None

            results = await asyncio.wait_for(asyncio.gather(cross(a, 2), cross(b, 1)), 10)
            deadlock = next(r for r in results if r is not None)
            return lock_error, deadlock
        finally:
            for conn in (a, b):
                await conn.close(timeout=5)

    lock_error, deadlock = asyncio.run(scenario())
    assert _kind(lock_error) == ("timeout", False, False)
    assert _kind(deadlock) == ("database", True, False)


def test_terminated_backend_is_retryable_and_counts(postgres: EmbeddedPostgres) -> None:
    """A backend killed by pg_terminate_backend (what a restart does to every session)
    surfaces as a retryable error that counts for the breaker."""
    async def scenario() -> BaseException:
        victim = await asyncpg.connect(postgres.dsn)
        admin = await asyncpg.connect(postgres.dsn)
        try:
            pid = victim.get_server_pid()
            await admin.execute(f"select pg_terminate_backend({pid})")
            await asyncio.sleep(0.05)
            return await _provoke(lambda: victim.fetch("select 1"))
        finally:
            victim.terminate()
            await admin.close(timeout=5)

    exc = asyncio.run(scenario())
    kind = classify_db_error(exc)
    assert kind.retryable and kind.counts_for_breaker, (type(exc), exc, kind)


def test_connect_failures(postgres: EmbeddedPostgres) -> None:
    """A refused connect is retryable and counts; an unknown database is neither."""
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    holder.bind(("127.0.0.1", 0))  # bound, never listening: connects are refused
    port = holder.getsockname()[1]
    try:
        refused = asyncio.run(_provoke(lambda: asyncpg.connect(
            f"postgresql://postgres@127.0.0.1:{port}/postgres", timeout=2)))
    finally:
        holder.close()
    missing = asyncio.run(_provoke(lambda: asyncpg.connect(postgres.dsn_for("no_such_db"),
                                                           timeout=5)))
    assert _kind(refused)[1:] == (True, True), repr(refused)
    assert _kind(missing) == ("database", False, False), repr(missing)
