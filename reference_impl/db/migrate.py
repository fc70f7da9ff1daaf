"""Apply and undo the numbered migrations, safely against concurrent migrators.

- History lives in ``schema_migrations`` (version, name, checksum, applied_at,
  duration_ms, success). A failed migration leaves a ``success = false`` row
  (written after its transaction rolled back) so ``status`` shows it; the next
  ``up`` tries it again.
- Each migration runs in its own transaction with ``lock_timeout`` 5 s (it waits
  for a busy table at most that long instead of queueing behind traffic forever).
- A session-level ``pg_advisory_lock`` (taken with bounded ``try`` retries)
  serialises migrators: two app instances starting at once apply each migration
  exactly once.
- An applied migration whose file changed, or an applied version this code does
  not know, is an error that names it: the database and the code disagree about
  history, and guessing would be worse.

CLI: ``python -m reference_impl migrate up|down|status [--dsn] [--target]``
(or ``python -m reference_impl.db.migrate ...``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from reference_impl.db.errors import MigrationError
from reference_impl.db.migration_files import Migration, latest_version, load_migrations

__all__ = [
    "ADVISORY_LOCK_KEY",
    "current_version",
    "main",
    "migrate_down",
    "migrate_up",
    "status",
]

#: The advisory lock every migrator of this service takes ("ref_impl" in ASCII).
ADVISORY_LOCK_KEY = 0x7265665F696D706C
MIGRATION_LOCK_TIMEOUT = "5s"
MIGRATION_STATEMENT_TIMEOUT = "300s"
CONNECT_TIMEOUT_S = 5.0

_TRACKING_DDL = """
create table if not exists schema_migrations (
    version     text primary key,
    name        text not null,
    checksum    text not null,
    applied_at  timestamptz not null default now(),
    duration_ms double precision not null,
    success     boolean not null
)
"""

@asynccontextmanager
async def _connection(conn_or_dsn: asyncpg.Connection | str) -> AsyncIterator[asyncpg.Connection]:
    """Use the given connection, or open one for a DSN (closed again afterwards)."""
    if not isinstance(conn_or_dsn, str):
        yield conn_or_dsn
        return
    conn = await asyncpg.connect(conn_or_dsn, timeout=CONNECT_TIMEOUT_S)
    try:
        yield conn
    finally:
        await conn.close(timeout=CONNECT_TIMEOUT_S)


@asynccontextmanager
async def _migration_lock(conn: asyncpg.Connection, wait_s: float) -> AsyncIterator[None]:
    """Hold the migrators' advisory lock; raise :class:`MigrationError` after ``wait_s``."""
    deadline = time.monotonic() + wait_s
    delay = 0.02
    while not await conn.fetchval("select pg_try_advisory_lock($1)", ADVISORY_LOCK_KEY):
        if time.monotonic() >= deadline:
            holder = await conn.fetchval(
                "select pid from pg_locks where locktype = 'advisory' and granted "
                "and (classid::bigint << 32 | objid::bigint) = $1 limit 1",
                ADVISORY_LOCK_KEY,
            )
            raise MigrationError(
                f"could not take the migration lock (advisory lock {ADVISORY_LOCK_KEY}) "
                f"within {wait_s:.1f}s: held by backend pid {holder}"
            )
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.2)
    try:
        yield
    finally:
        await conn.execute("select pg_advisory_unlock($1)", ADVISORY_LOCK_KEY)


async def _tracking_exists(conn: asyncpg.Connection) -> bool:
    return bool(await conn.fetchval("select to_regclass('schema_migrations') is not null"))


async def _history(conn: asyncpg.Connection) -> dict[str, asyncpg.Record]:
    """Rows of ``schema_migrations`` by version ({} before the first migration)."""
    if not await _tracking_exists(conn):
        return {}
    rows = await conn.fetch(
        "select version, name, checksum, applied_at, duration_ms, success from schema_migrations"
    )
    return {row["version"]: row for row in rows}


def _check_history(migrations: list[Migration], history: dict[str, asyncpg.Record]) -> None:
    """Raise for an applied migration that changed since, or one this code does not know."""
    known = {m.version: m for m in migrations}
    latest = latest_version(migrations)
    for version, row in sorted(history.items()):
        if not row["success"]:
            continue
        migration = known.get(version)
        if migration is None:
            raise MigrationError(
                f"migration {version} ({row['name']}) is applied in the database but this code "
                f"does not know it (latest here: {latest}): is this an older build?",
                version,
            )
        if migration.checksum != row["checksum"]:
            raise MigrationError(
                f"migration {migration.label} was changed after it was applied: checksum recorded "
                f"{row['checksum'][:12]}..., file {migration.path.name} has "
                f"{migration.checksum[:12]}...",
                version,
            )


def _normalise_target(target: str | int | None, migrations: list[Migration]) -> int:
    if target is None:
        return migrations[-1].number if migrations else 0
    try:
        number = int(target)
    except ValueError:
        raise MigrationError(f"target {target!r} is not a migration version (e.g. 002)") from None
    if number != 0 and number not in {m.number for m in migrations}:
        raise MigrationError(f"target {target!r} is not a known migration version", str(target))
    return number


async def _record(
    conn: asyncpg.Connection, m: Migration, duration_ms: float, success: bool
) -> None:
    await conn.execute(
        "insert into schema_migrations (version, name, checksum, applied_at, duration_ms, success) "
        "values ($1, $2, $3, now(), $4, $5) on conflict (version) do update set "
        "name = excluded.name, checksum = excluded.checksum, applied_at = now(), "
        "duration_ms = excluded.duration_ms, success = excluded.success",
        m.version, m.name, m.checksum, duration_ms, success,
    )


async def _apply(conn: asyncpg.Connection, m: Migration, sql: str, up: bool) -> float:
    """Run one migration (``sql``) in its own transaction; return its duration in ms."""
    started = time.monotonic()
    try:
        async with conn.transaction():
            await conn.execute(f"set local lock_timeout = '{MIGRATION_LOCK_TIMEOUT}'")
            await conn.execute(f"set local statement_timeout = '{MIGRATION_STATEMENT_TIMEOUT}'")
            await conn.execute(sql)
            duration_ms = (time.monotonic() - started) * 1000
            if up:
                await _record(conn, m, duration_ms, True)
            else:
                await conn.execute("delete from schema_migrations where version = $1", m.version)
    except asyncpg.PostgresError as exc:
        duration_ms = (time.monotonic() - started) * 1000
        if up:
            with contextlib.suppress(asyncpg.PostgresError, OSError, asyncpg.InterfaceError):
                await _record(conn, m, duration_ms, False)
        direction = "up" if up else "down"
        raise MigrationError(
            f"migration {m.label} ({direction}) failed after {duration_ms:.0f} ms: "
            f"{type(exc).__name__} [{exc.sqlstate}]: {exc}",
            m.version,
        ) from exc
    return duration_ms


async def migrate_up(
    conn_or_dsn: asyncpg.Connection | str,
    target: str | int | None = None,
    *,
    migrations: list[Migration] | None = None,
    lock_wait_s: float = 30.0,
) -> list[str]:
    """Apply every pending migration up to ``target`` (default: the latest); return those applied.

    Safe to run from several processes at once: the advisory lock serialises
    them and the loser finds nothing left to do.
    """
    migrations = load_migrations() if migrations is None else migrations
    goal = _normalise_target(target, migrations)
    applied: list[str] = []
    async with _connection(conn_or_dsn) as conn, _migration_lock(conn, lock_wait_s):
        await conn.execute(_TRACKING_DDL)
        history = await _history(conn)
        _check_history(migrations, history)
        for m in migrations:
            done = m.version in history and history[m.version]["success"]
            if m.number > goal or done:
                continue
            await _apply(conn, m, m.up_sql, up=True)
            applied.append(m.version)
    return applied


async def migrate_down(
    conn_or_dsn: asyncpg.Connection | str,
    target: str | int,
    *,
    migrations: list[Migration] | None = None,
    lock_wait_s: float = 30.0,
) -> list[str]:
    """Undo applied migrations newer than ``target`` (``0``: all), newest first; return them."""
    migrations = load_migrations() if migrations is None else migrations
    goal = _normalise_target(target, migrations)
    undone: list[str] = []
    async with _connection(conn_or_dsn) as conn, _migration_lock(conn, lock_wait_s):
        history = await _history(conn)
        _check_history(migrations, history)
        for m in reversed(migrations):
            row = history.get(m.version)
            if m.number <= goal or row is None or not row["success"]:
                continue
            if m.down_sql is None:
                raise MigrationError(
                    f"migration {m.label} has no down file: cannot undo it", m.version
                )
            await _apply(conn, m, m.down_sql, up=False)
            undone.append(m.version)
    return undone


async def status(
    conn_or_dsn: asyncpg.Connection | str, *, migrations: list[Migration] | None = None
) -> list[dict[str, Any]]:
    """One dict per migration known here or recorded there, in version order.

    ``state`` is ``applied``, ``pending``, ``failed`` (last attempt failed),
    ``changed`` (applied, but the file's checksum differs) or ``unknown``
    (recorded in the database, no such file here).
    """
    migrations = load_migrations() if migrations is None else migrations
    async with _connection(conn_or_dsn) as conn:
        history = await _history(conn)
    out: list[dict[str, Any]] = []
    for m in migrations:
        row = history.get(m.version)
        state = "pending"
        if row is not None:
            state = "failed" if not row["success"] else (
                "applied" if row["checksum"] == m.checksum else "changed")
        out.append(_status_row(m.version, m.name, state, m.checksum, row))
    for version, row in history.items():
        if version not in {m.version for m in migrations}:
            out.append(_status_row(version, row["name"], "unknown", None, row))
    return sorted(out, key=lambda r: int(r["version"]))


def _status_row(
    version: str, name: str, state: str, file_checksum: str | None, row: asyncpg.Record | None
) -> dict[str, Any]:
    return {
        "version": version,
        "name": name,
        "state": state,
        "checksum": file_checksum,
        "recorded_checksum": row["checksum"] if row is not None else None,
        "applied_at": row["applied_at"].isoformat() if row is not None else None,
        "duration_ms": row["duration_ms"] if row is not None else None,
    }


async def current_version(conn_or_dsn: asyncpg.Connection | str) -> str | None:
    """The highest successfully applied version, or ``None`` before the first migration."""
    async with _connection(conn_or_dsn) as conn:
        if not await _tracking_exists(conn):
            return None
        value = await conn.fetchval(
            "select max(version) from schema_migrations where success"
        )
        return str(value) if value is not None else None


# -- CLI -------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m reference_impl migrate",
        description="Apply, undo or list the reference app's schema migrations.",
    )
    parser.add_argument("command", choices=["up", "down", "status"])
    parser.add_argument("--dsn", default=os.environ.get("DATABASE_URL"),
                        help="postgresql:// URL (default: $DATABASE_URL)")
    parser.add_argument("--target", default=None,
                        help="version to migrate to (up: default latest; down: required, 0 = all)")
    parser.add_argument("--lock-wait", type=float, default=30.0,
                        help="seconds to wait for another migrator's lock (default 30)")
    return parser


async def _run_cli(args: argparse.Namespace) -> int:
    if args.command == "up":
        versions = await migrate_up(args.dsn, args.target, lock_wait_s=args.lock_wait)
        print(f"applied: {', '.join(versions) or 'nothing (up to date)'}")
    elif args.command == "down":
        versions = await migrate_down(args.dsn, args.target, lock_wait_s=args.lock_wait)
        print(f"undone: {', '.join(versions) or 'nothing'}")
    else:
        for row in await status(args.dsn):
            when = row["applied_at"] or "-"
            print(f"{row['version']}  {row['name']:<28} {row['state']:<8} {when}")
    print(f"current version: {await current_version(args.dsn) or 'none'}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``up|down|status [--dsn URL] [--target N]``; exit 0 ok, 1 migration error, 2 cannot run."""
    args = _parser().parse_args(argv)
    if not args.dsn:
        print("error: no database: pass --dsn or set DATABASE_URL", file=sys.stderr)
        return 2
    if args.command == "down" and args.target is None:
        print("error: down needs --target (a version, or 0 for all)", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_run_cli(args))
    except MigrationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        print(f"error: cannot reach the database: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
