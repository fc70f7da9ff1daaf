"""The API's SQL against a real Postgres, on the resilient manager and the naive pool."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

import asyncpg
import psutil
import pytest

from reference_impl.db.config import DbConfig
from reference_impl.db.errors import IdempotencyConflict, MigrationError
from reference_impl.db.manager import DatabaseManager
from reference_impl.db.migrate import migrate_up
from reference_impl.db.naive import NaiveDatabase
from reference_impl.db.queries import (
    FINAL_READ_SQL,
    create_plan,
    create_session,
    export_messages,
    get_node,
    get_plan,
    get_session,
    insert_message_idempotent,
    insert_message_naive,
    list_messages,
    update_plan,
)
from reference_impl.resilience.breaker import CircuitBreaker
from reference_impl.resilience.retry import RetryPolicy

T = TypeVar("T")


def run(factory: Callable[[], Awaitable[T]], timeout: float = 60) -> T:
    """Run one coroutine to completion, bounded, on a fresh loop."""

    async def bounded() -> T:
        return await asyncio.wait_for(factory(), timeout)

    return asyncio.run(bounded())


@asynccontextmanager
async def manager(dsn: str, pool_max: int = 10) -> AsyncIterator[DatabaseManager]:
    db = DatabaseManager(DbConfig(dsn, pool_min=1, pool_max=pool_max),
                         CircuitBreaker("db"), RetryPolicy())
    await db.connect()
    try:
        yield db
    finally:
        await db.close(5.0)


async def _final_read(dsn: str) -> dict[str, int]:
    conn = await asyncpg.connect(dsn)
    try:
        return {r[0]: r[1] for r in await conn.fetch(FINAL_READ_SQL)}
    finally:
        await conn.close()


def test_idempotent_insert_replays_and_conflicts(migrated_db: str) -> None:
    """The same key and body twice makes one row and replays it; another body is a conflict
    naming the key; the harness' final read counts one row for the key."""

    async def scenario() -> None:
        async with manager(migrated_db) as db:
            first, created = await insert_message_idempotent(
                db, key="k-1", room="lobby", session_id="s1", body="hello", request_hash="h1")
            again, created_again = await insert_message_idempotent(
                db, key="k-1", room="lobby", session_id="s1", body="hello", request_hash="h1")
            assert created and not created_again
            assert again == first and first["idempotency_key"] == "k-1"
            with pytest.raises(IdempotencyConflict, match="'k-1'") as info:
                await insert_message_idempotent(
                    db, key="k-1", room="lobby", session_id="s1", body="other", request_hash="h2")
            assert info.value.stored_hash == "h1"
        assert await _final_read(migrated_db) == {"k-1": 1}

    run(scenario)


def test_concurrent_inserts_of_one_key_make_one_row(migrated_db: str) -> None:
    """Twenty concurrent posts of one key: exactly one creates, nineteen replay the same row."""

    async def scenario() -> None:
        async with manager(migrated_db) as db:
            results = await asyncio.gather(*(
                insert_message_idempotent(db, key="race", room="r", session_id=None,
                                          body="b", request_hash="h")
                for _ in range(20)
            ))
        assert sum(created for _, created in results) == 1
        assert len({row["id"] for row, _ in results}) == 1
        assert await _final_read(migrated_db) == {"race": 1}

    run(scenario)


def test_naive_insert_duplicates_on_a_retry(fresh_db: str) -> None:
    """The naive profile (schema at 002, no unique key): a retried post is a second row, which
    the final read shows as a duplicate; the idempotent insert cannot even run there, and
    migration 003 then refuses to build the unique index, naming the duplicated key."""

    async def scenario() -> None:
        await migrate_up(fresh_db, target="002")
        db = NaiveDatabase(fresh_db, pool_min=1)
        await db.connect()
        try:
            for _ in range(2):
                await insert_message_naive(db, room="r", session_id=None, body="b", key="k-9")
            with pytest.raises(asyncpg.InvalidColumnReferenceError):
                await insert_message_idempotent(db, key="k-10", room="r", session_id=None,
                                                body="b", request_hash="h")
        finally:
            await db.close()
        assert await _final_read(fresh_db) == {"k-9": 2}
        duplicated = r"(?s)003_add_missing_indexes.*23505.*\(k-9\) is duplicated"
        with pytest.raises(MigrationError, match=duplicated):
            await migrate_up(fresh_db)

    run(scenario)


def test_keyset_pagination_walks_every_message_once(migrated_db: str) -> None:
    """Pages of 10 over 25 messages of one room (interleaved with another room's) return each
    message exactly once in id order, then an empty page; bad limits are refused."""

    async def scenario() -> None:
        async with manager(migrated_db) as db:
            expected = []
            for i in range(25):
                row = await insert_message_naive(db, room="a", session_id=None, body=f"m{i}")
                expected.append(row["id"])
                if i % 5 == 0:
                    await insert_message_naive(db, room="b", session_id=None, body="noise")
            seen: list[int] = []
            after, pages = 0, 0
            while page := await list_messages(db, "a", after_id=after, limit=10):
                pages += 1
                assert all(m["room"] == "a" for m in page)
                seen += [m["id"] for m in page]
                after = page[-1]["id"]
            assert seen == expected and pages == 3
            for bad in (0, 501):
                with pytest.raises(ValueError, match="limit must be between 1 and 500"):
                    await list_messages(db, "a", limit=bad)

    run(scenario)


def test_export_streams_200k_rows_in_bounded_batches(migrated_db: str) -> None:
    """Exporting 200k messages yields 200 batches of 1000 in id order while RSS grows less
    than 20 MB (all rows held at once would be over 60 MB), and frees its connection."""

    async def scenario() -> tuple[int, int, int, dict[str, object]]:
        setup = await asyncpg.connect(migrated_db)
        try:
            await setup.execute(
                "insert into messages (room, body, idempotency_key) "
                "select 'big', repeat('x', 100), 'k-' || g from generate_series(1, 200000) g"
            )
        finally:
            await setup.close()
        async with manager(migrated_db) as db:
            batches = rows = 0
            last_id = 0
            gc.collect()
            process = psutil.Process()
            baseline = peak = process.memory_info().rss
            async for batch in export_messages(db, "big", batch_size=1000):
                batches += 1
                rows += len(batch)
                assert batch[0]["id"] > last_id
                last_id = batch[-1]["id"]
                if batches % 10 == 0:
                    peak = max(peak, process.memory_info().rss)
            return batches, rows, peak - baseline, db.pool_stats()

    batches, rows, growth, pool = run(scenario, timeout=120)
    assert (batches, rows) == (200, 200_000)
    assert growth < 20 * 1024 * 1024, f"RSS grew {growth / 2**20:.1f} MB during the export"
    assert pool["in_use"] == 0


def test_sessions_nodes_and_plans(migrated_db: str) -> None:
    """Sessions persist and read back; nodes are found by node_id (and a missing one is None);
    a plan's jsonb steps and result round-trip through create, update and get."""

    async def scenario() -> None:
        async with manager(migrated_db) as db:
            made = await create_session(db, "s-1", "ada", "lobby")
            assert made["user_name"] == "ada" and made["joined_at"] is not None
            assert await get_session(db, "s-1") == made
            assert await get_session(db, "nope") is None

            node = await get_node(db, "node-1")
            assert node == {"node_id": "node-1", "name": "foundation", "kind": "structure"}
            assert await get_node(db, "node-99") is None

            plan = await create_plan(db, "p-1", "node-1", [{"op": "pour", "m3": 4}])
            assert plan["steps"] == [{"op": "pour", "m3": 4}] and plan["status"] == "queued"
            done = await update_plan(db, "p-1", status="done", result={"ok": True}, attempts=1)
            assert done is not None and done["result"] == {"ok": True} and done["attempts"] == 1
            assert await get_plan(db, "p-1") == done
            assert await update_plan(db, "p-404", status="done") is None

    run(scenario)
