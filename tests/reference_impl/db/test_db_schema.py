"""Schema validation against a real Postgres at each migration, and the runtime SchemaState."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg
import pytest

from reference_impl.db.config import DbConfig
from reference_impl.db.errors import DatabaseUnavailable
from reference_impl.db.manager import DatabaseManager
from reference_impl.db.migrate import migrate_up
from reference_impl.db.queries import get_node
from reference_impl.db.schema import REQUIRED, columns, validate_schema
from reference_impl.resilience.breaker import CircuitBreaker

T = TypeVar("T")


def run(factory: Callable[[], Awaitable[T]], timeout: float = 60) -> T:
    """Run one coroutine to completion, bounded, on a fresh loop."""

    async def bounded() -> T:
        return await asyncio.wait_for(factory(), timeout)

    return asyncio.run(bounded())


async def _problems(dsn: str, check_unique: bool = True) -> list[str]:
    conn = await asyncpg.connect(dsn)
    try:
        return await validate_schema(conn, check_unique=check_unique)
    finally:
        await conn.close()


def test_columns_come_from_the_one_declaration() -> None:
    """Select lists are built from REQUIRED, which names nodes' key node_id."""
    assert "node_id" in REQUIRED["nodes"]
    assert columns("nodes", prefix="n.") == "n.node_id, n.name, n.kind"


def test_validation_names_what_each_migration_level_lacks(fresh_db: str) -> None:
    """Empty: every table missing. At 001: nodes.node_id named with the migration levels. At
    002: the missing unique key (unless not checked, as in the naive profile). At 003: fine."""

    async def scenario() -> None:
        empty = await _problems(fresh_db)
        assert "table nodes is missing: run migrations (at none, latest 003)" in empty
        assert len(empty) == len(REQUIRED)

        await migrate_up(fresh_db, target="001")
        assert await _problems(fresh_db) == [
            "nodes.node_id is missing: run migrations (at 001, latest 003)",
            "messages.idempotency_key has no unique index: run migrations (at 001, latest 003)",
        ]
        await migrate_up(fresh_db, target="002")
        assert await _problems(fresh_db) == [
            "messages.idempotency_key has no unique index: run migrations (at 002, latest 003)",
        ]
        assert await _problems(fresh_db, check_unique=False) == []
        await migrate_up(fresh_db)
        assert await _problems(fresh_db) == []

    run(scenario)


def test_runtime_undefined_column_marks_invalid_then_revalidates(fresh_db: str) -> None:
    """An app on a 001 schema: the node lookup fails with schema_invalid (not a raw 42703),
    the state turns invalid naming nodes.node_id, and after migrations a revalidation makes it
    valid again and the lookup works."""

    async def scenario() -> None:
        await migrate_up(fresh_db, target="001")
        db = DatabaseManager(DbConfig(fresh_db, pool_min=1), CircuitBreaker("db"))
        await db.connect()
        try:
            db.schema.valid = True  # as if a (wrong) earlier check had passed
            with pytest.raises(DatabaseUnavailable) as info:
                await get_node(db, "node-1")
            assert info.value.reason == "schema_invalid"
            assert not db.schema.valid
            assert db.schema.invalidations == 1
            await db.schema.revalidate()
            assert not db.schema.valid
            assert any("nodes.node_id is missing" in p for p in db.schema.problems)
            assert db.breaker is not None and db.breaker.snapshot()["failures"] == 0

            await migrate_up(fresh_db)
            assert await db.schema.maybe_revalidate(min_interval_s=0.0)
            assert db.schema.snapshot()["problems"] == []
            node = await get_node(db, "node-1")
            assert node is not None and node["node_id"] == "node-1"
        finally:
            await db.close()

    run(scenario)


def test_column_renamed_mid_run_then_restored(migrated_db: str) -> None:
    """Schema drift while serving (node_id renamed away, as the drift_schema fault does): the
    lookup fails as schema_invalid, the automatic revalidation names nodes.node_id, and once
    the column is back the next revalidation passes and lookups work (no stale statement)."""

    async def scenario() -> None:
        admin = await asyncpg.connect(migrated_db)
        db = DatabaseManager(DbConfig(migrated_db, pool_min=1, pool_max=2), CircuitBreaker("db"))
        await db.connect()
        try:
            assert await db.schema.revalidate()
            assert await get_node(db, "node-2") is not None  # statement now cached
            await admin.execute("alter table nodes rename column node_id to id")
            with pytest.raises(DatabaseUnavailable, match="schema_invalid"):
                await get_node(db, "node-2")
            for _ in range(100):  # the revalidation mark_invalid scheduled
                if db.schema.last_check is not None and db.schema.invalidations == 1 and any(
                        "nodes.node_id is missing" in p for p in db.schema.problems):
                    break
                await asyncio.sleep(0.02)
            else:
                raise AssertionError(f"no automatic revalidation: {db.schema.snapshot()}")
            assert not db.schema.valid
            await admin.execute("alter table nodes rename column id to node_id")
            assert await db.schema.maybe_revalidate(min_interval_s=0.0)
            node = await get_node(db, "node-2")
            assert node is not None and node["name"] == "east wall"
        finally:
            await db.close()
            await admin.close()

    run(scenario)
