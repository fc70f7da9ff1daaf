"""Migrations against a real Postgres: up/down/status, checksums, failures, concurrent migrators."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import asyncpg
import pytest

from reference_impl.db.errors import MigrationError
from reference_impl.db.migrate import (
    ADVISORY_LOCK_KEY,
    current_version,
    main,
    migrate_down,
    migrate_up,
    status,
)
from reference_impl.db.migration_files import MIGRATIONS_DIR, load_migrations

T = TypeVar("T")


def run(factory: Callable[[], Awaitable[T]]) -> T:
    """Run one coroutine to completion, bounded, on a fresh loop."""

    async def bounded() -> T:
        return await asyncio.wait_for(factory(), 60)

    return asyncio.run(bounded())


async def _columns(dsn: str, table: str) -> list[str]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "select column_name from information_schema.columns where table_name = $1 "
            "order by ordinal_position", table,
        )
        return [r[0] for r in rows]
    finally:
        await conn.close()


def _copy_migrations(tmp_path: Path) -> Path:
    target = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, target)
    return target


def test_files_are_complete_pairs() -> None:
    """The shipped migrations are 001..003, each with a down file and a distinct checksum."""
    migrations = load_migrations()
    assert [m.label for m in migrations] == [
        "001_initial_schema", "002_fix_node_columns", "003_add_missing_indexes",
    ]
    assert all(m.down_sql for m in migrations)
    assert len({m.checksum for m in migrations}) == 3


def test_up_status_down_round_trip(fresh_db: str) -> None:
    """Up applies all three in order, status/current_version report them, down undoes them."""

    async def scenario() -> None:
        assert await current_version(fresh_db) is None
        assert [r["state"] for r in await status(fresh_db)] == ["pending"] * 3
        assert await migrate_up(fresh_db) == ["001", "002", "003"]
        assert await migrate_up(fresh_db) == []
        rows = await status(fresh_db)
        assert [(r["version"], r["state"]) for r in rows] == [
            ("001", "applied"), ("002", "applied"), ("003", "applied"),
        ]
        assert all(r["duration_ms"] >= 0 and r["applied_at"] for r in rows)
        assert await current_version(fresh_db) == "003"
        assert await _columns(fresh_db, "nodes") == ["node_id", "name", "kind"]

        assert await migrate_down(fresh_db, "001") == ["003", "002"]
        assert await current_version(fresh_db) == "001"
        assert await _columns(fresh_db, "nodes") == ["id", "name", "kind"]
        assert await migrate_down(fresh_db, 0) == ["001"]
        assert await _columns(fresh_db, "messages") == []
        assert await current_version(fresh_db) is None

        assert await migrate_up(fresh_db, target="002") == ["001", "002"]
        assert await migrate_up(fresh_db) == ["003"]

    run(scenario)


def test_changed_checksum_is_an_error_naming_the_migration(fresh_db: str, tmp_path: Path) -> None:
    """Editing an applied migration's file makes up and down refuse, naming it; status says
    changed."""
    directory = _copy_migrations(tmp_path)
    run(lambda: migrate_up(fresh_db, migrations=load_migrations(directory)))
    path = directory / "002_fix_node_columns.sql"
    path.write_text(path.read_text() + "\n-- edited after it ran\n")
    edited = load_migrations(directory)

    with pytest.raises(MigrationError, match="002_fix_node_columns was changed") as info:
        run(lambda: migrate_up(fresh_db, migrations=edited))
    assert info.value.version == "002"
    with pytest.raises(MigrationError, match="002_fix_node_columns"):
        run(lambda: migrate_down(fresh_db, 0, migrations=edited))
    states = {r["version"]: r["state"] for r in run(lambda: status(fresh_db, migrations=edited))}
    assert states == {"001": "applied", "002": "changed", "003": "applied"}


def test_unknown_applied_version_is_an_error(fresh_db: str, tmp_path: Path) -> None:
    """A database migrated by a newer build (004 applied) is refused by this build, naming 004."""
    directory = _copy_migrations(tmp_path)
    (directory / "004_add_topic.sql").write_text("alter table messages add column topic text;\n")
    run(lambda: migrate_up(fresh_db, migrations=load_migrations(directory)))

    with pytest.raises(MigrationError, match=r"migration 004 \(add_topic\).*latest here: 003"):
        run(lambda: migrate_up(fresh_db))
    states = [r["state"] for r in run(lambda: status(fresh_db))]
    assert states == ["applied", "applied", "applied", "unknown"]


def test_failed_migration_rolls_back_and_is_recorded(fresh_db: str, tmp_path: Path) -> None:
    """A failing 002 leaves 001's schema intact (its own transaction), is recorded failed, and
    is retried by the next up once fixed."""
    directory = _copy_migrations(tmp_path)
    bad = directory / "002_fix_node_columns.sql"
    good_sql = bad.read_text()
    bad.write_text(good_sql + "select no_such_function();\n")

    with pytest.raises(MigrationError, match=r"002_fix_node_columns \(up\) failed.*42883"):
        run(lambda: migrate_up(fresh_db, migrations=load_migrations(directory)))
    assert run(lambda: _columns(fresh_db, "nodes")) == ["id", "name", "kind"]
    rows = run(lambda: status(fresh_db, migrations=load_migrations(directory)))
    states = [r["state"] for r in rows]
    assert states == ["applied", "failed", "pending"]
    assert run(lambda: current_version(fresh_db)) == "001"

    bad.write_text(good_sql)
    fixed = load_migrations(directory)
    assert run(lambda: migrate_up(fresh_db, migrations=fixed)) == ["002", "003"]


def test_concurrent_migrators_apply_each_migration_once(fresh_db: str, tmp_path: Path) -> None:
    """Four migrators race (001 made slow so they overlap): every migration is applied exactly
    once in all, and the tracking table has one successful row per version."""
    directory = _copy_migrations(tmp_path)
    first = directory / "001_initial_schema.sql"
    first.write_text(first.read_text() + "\nselect pg_sleep(0.3);\n")
    migrations = load_migrations(directory)

    async def scenario() -> list[list[str]]:
        conns = [await asyncpg.connect(fresh_db) for _ in range(4)]
        try:
            racing = (migrate_up(c, migrations=migrations) for c in conns)
            return list(await asyncio.gather(*racing))
        finally:
            for conn in conns:
                await conn.close()

    results = run(scenario)
    applied = sorted(v for result in results for v in result)
    assert applied == ["001", "002", "003"]
    assert sum(1 for r in results if r) == 1, results  # the lock winner did everything
    rows = run(lambda: _fetch(fresh_db, "select version, success from schema_migrations"))
    assert sorted((r["version"], r["success"]) for r in rows) == [
        ("001", True), ("002", True), ("003", True),
    ]


async def _fetch(dsn: str, sql: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetch(sql)
    finally:
        await conn.close()


def test_lock_wait_is_bounded_and_names_the_holder(fresh_db: str) -> None:
    """While another session holds the migration lock, up gives up after lock_wait_s and names
    the holder's backend pid."""

    async def scenario() -> tuple[int, str, float]:
        holder = await asyncpg.connect(fresh_db)
        try:
            await holder.execute("select pg_advisory_lock($1)", ADVISORY_LOCK_KEY)
            pid = holder.get_server_pid()
            loop = asyncio.get_running_loop()
            started = loop.time()
            try:
                await migrate_up(fresh_db, lock_wait_s=0.3)
            except MigrationError as exc:
                return pid, str(exc), loop.time() - started
            raise AssertionError("migrate_up did not wait for the lock")
        finally:
            await holder.close()

    pid, message, waited = run(scenario)
    assert f"held by backend pid {pid}" in message
    assert 0.3 <= waited < 2.0


def test_cli_up_status_down(fresh_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    """The CLI applies, lists and undoes migrations with exit 0, and refuses down without target."""
    assert main(["up", "--dsn", fresh_db]) == 0
    assert "applied: 001, 002, 003" in capsys.readouterr().out
    assert main(["status", "--dsn", fresh_db]) == 0
    out = capsys.readouterr().out
    assert "002  fix_node_columns" in out and "current version: 003" in out
    assert main(["down", "--dsn", fresh_db]) == 2
    assert "needs --target" in capsys.readouterr().err
    assert main(["down", "--dsn", fresh_db, "--target", "0"]) == 0
    assert "undone: 003, 002, 001" in capsys.readouterr().out
    assert main(["up", "--dsn", fresh_db, "--target", "009"]) == 1
    assert "not a known migration version" in capsys.readouterr().err


def test_cli_unreachable_database_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    """A DSN nobody listens on is exit 2 with a message saying the database cannot be reached."""
    assert main(["status", "--dsn", "postgresql://postgres@127.0.0.1:1/postgres"]) == 2
    assert "cannot reach the database" in capsys.readouterr().err
