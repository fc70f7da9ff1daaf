"""The columns the code uses, declared once, and the live schema checked against them.

:data:`REQUIRED` is the single declaration: ``queries`` builds its select lists
from it and :func:`validate_schema` checks it against ``information_schema``.
A mismatch is phrased for the operator, naming table, column and the fix::

    nodes.node_id is missing: run migrations (at 001, latest 003)

:class:`SchemaState` is what readiness looks at: valid or not, the problems,
when it was last checked. A runtime undefined-column error (42703) marks it
invalid (readiness turns 503) and schedules a revalidation, so a schema fixed
by migrations makes the service ready again without a restart.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import asyncpg

from reference_impl.db.migrate import current_version
from reference_impl.db.migration_files import latest_version, load_migrations

__all__ = ["REQUIRED", "REQUIRED_UNIQUE", "SchemaState", "columns", "validate_schema"]

#: Every column the service reads or writes, by table.
REQUIRED: dict[str, list[str]] = {
    "sessions": ["session_id", "user_name", "room", "joined_at"],
    "messages": [
        "id", "room", "session_id", "body", "idempotency_key", "request_hash", "created_at",
    ],
    "nodes": ["node_id", "name", "kind"],
    "plans": [
        "plan_id", "node_id", "steps", "status", "result", "attempts", "created_at", "updated_at",
    ],
}

#: Columns that must carry a unique index (``ON CONFLICT (...)`` needs one).
REQUIRED_UNIQUE: dict[str, list[str]] = {"messages": ["idempotency_key"]}


def columns(table: str, *, prefix: str = "") -> str:
    """The declared columns of ``table`` as a select list (``prefix`` e.g. ``"m."``)."""
    return ", ".join(f"{prefix}{name}" for name in REQUIRED[table])


_COLUMNS_SQL = """
select table_name::text, column_name::text
from information_schema.columns
where table_schema = current_schema() and table_name = any($1::text[])
"""

_UNIQUE_SQL = """
select t.relname::text as table_name, a.attname::text as column_name
from pg_index i
join pg_class t on t.oid = i.indrelid
join pg_namespace n on n.oid = t.relnamespace and n.nspname = current_schema()
join pg_attribute a on a.attrelid = t.oid and a.attnum = i.indkey[0]
where i.indisunique and i.indnatts = 1 and i.indpred is null and t.relname = any($1::text[])
"""


async def validate_schema(conn: asyncpg.Connection, *, check_unique: bool = True) -> list[str]:
    """Every way the live schema falls short of :data:`REQUIRED`; ``[]`` when it fits.

    ``check_unique`` also demands the unique indexes of :data:`REQUIRED_UNIQUE`
    (the naive profile, which never got migration 003, does not check them).
    """
    tables = sorted(REQUIRED)
    present: dict[str, set[str]] = {}
    for row in await conn.fetch(_COLUMNS_SQL, tables):
        present.setdefault(row["table_name"], set()).add(row["column_name"])
    problems: list[str] = []
    for table in tables:
        if table not in present:
            problems.append(f"table {table} is missing")
            continue
        problems += [f"{table}.{c} is missing" for c in REQUIRED[table] if c not in present[table]]
    if check_unique:
        rows = await conn.fetch(_UNIQUE_SQL, tables)
        unique = {(r["table_name"], r["column_name"]) for r in rows}
        for table, cols in sorted(REQUIRED_UNIQUE.items()):
            problems += [
                f"{table}.{c} has no unique index" for c in cols
                if table in present and c in present[table] and (table, c) not in unique
            ]
    if not problems:
        return []
    at = await current_version(conn) or "none"
    latest = latest_version(load_migrations()) or "none"
    return [f"{p}: run migrations (at {at}, latest {latest})" for p in problems]


ConnectionSource = Callable[[], AbstractAsyncContextManager[asyncpg.Connection]]


class SchemaState:
    """Whether the live schema fits the code: what readiness reports.

    ``connect`` opens a connection for a check (the database manager's
    ``connection``). Starts unchecked (``valid`` is ``False`` until the first
    :meth:`revalidate`). Revalidations are single-flight: concurrent callers
    share one check.
    """

    def __init__(
        self,
        connect: ConnectionSource,
        *,
        check_unique: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._connect = connect
        self._check_unique = check_unique
        self._clock = clock
        self.valid = False
        self.problems: list[str] = ["schema not checked yet"]
        self.last_check: float | None = None
        self._last_attempt: float | None = None
        self.last_error: str | None = None
        self.invalidations = 0
        self._inflight: asyncio.Task[bool] | None = None

    async def revalidate(self) -> bool:
        """Check the live schema now (sharing a check already running); return ``valid``."""
        if self._inflight is None or self._inflight.done():
            self._inflight = asyncio.get_running_loop().create_task(self._check())
        return await asyncio.shield(self._inflight)

    async def _check(self) -> bool:
        self._last_attempt = self._clock()
        try:
            async with self._connect() as conn:
                problems = await validate_schema(conn, check_unique=self._check_unique)
        except Exception as exc:  # the check itself failed: the state stays as it was
            self.last_error = f"{type(exc).__name__}: {exc}"
            return self.valid
        self.last_check = self._clock()
        self.last_error = None
        self.problems = problems
        self.valid = not problems
        return self.valid

    def mark_invalid(self, reason: str) -> None:
        """A query hit an undefined column: not ready until a revalidation passes.

        Schedules that revalidation when called inside a running event loop.
        """
        self.valid = False
        self.invalidations += 1
        if reason not in self.problems:
            self.problems = [*self.problems, reason][-10:]
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return
        if self._inflight is None or self._inflight.done():
            self._inflight = asyncio.get_running_loop().create_task(self._check())

    async def maybe_revalidate(self, min_interval_s: float = 1.0) -> bool:
        """Revalidate an invalid schema at most every ``min_interval_s``; return ``valid``.

        Meant for the readiness probe: a schema fixed by an operator's migration
        is noticed within a probe interval.
        """
        if self.valid:
            return True
        last = self._last_attempt
        if last is not None and self._clock() - last < min_interval_s:
            return False
        return await self.revalidate()

    def snapshot(self) -> dict[str, Any]:
        """JSON-ready: valid, problems, seconds since the last check, last check error."""
        age = None if self.last_check is None else round(self._clock() - self.last_check, 3)
        return {
            "valid": self.valid,
            "problems": list(self.problems),
            "checked_s_ago": age,
            "last_error": self.last_error,
            "invalidations": self.invalidations,
        }
