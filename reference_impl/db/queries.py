"""The SQL of the service API, built from the columns declared once in ``schema.REQUIRED``.

Every function takes a :class:`Database` (the resilient ``DatabaseManager`` or
the naive ``NaiveDatabase``: both satisfy it) and returns plain dicts, ready for
JSON (timestamps stay ``datetime``), except for messages: the hot paths (insert,
history page) return asyncpg's read-only records, since messages have no JSON
column to decode and the caller shapes every row anyway. Reads pass ``retry=True``; writes pass
``retry=False``, except the keyed message insert, which the idempotency key makes
safe to repeat: no write is ever retried blindly.

The idempotent write (resilient profile) claims the key in the same statement
that writes the row::

    insert ... on conflict (idempotency_key) do nothing returning ...
    -- nothing returned: the key exists -> read it back
    --   same request hash  -> replay the stored row (created = False)
    --   other request hash -> IdempotencyConflict (409)

A concurrent insert of the same key waits on the unique index and then takes
the "exists" branch, so one key never makes two rows. The naive profile's
insert has no key check (and its schema, at migration 002, no unique index):
each POST inserts.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

import asyncpg

from reference_impl.db.errors import IdempotencyConflict
from reference_impl.db.schema import REQUIRED, columns

__all__ = [
    "FINAL_READ_SQL",
    "MAX_PAGE",
    "Database",
    "create_plan",
    "create_session",
    "export_messages",
    "get_node",
    "get_plan",
    "get_session",
    "insert_message_idempotent",
    "insert_message_naive",
    "list_messages",
    "update_plan",
]

#: What the harness reads back after a run: rows per acknowledged key.
FINAL_READ_SQL = (
    "select idempotency_key, count(*) from messages where idempotency_key is not null group by 1"
)
#: Largest page of history one request may ask for.
MAX_PAGE = 500

_JSON_COLUMNS = frozenset({"steps", "result"})


class Database(Protocol):
    """What the queries need from a database: both profiles' access objects provide it."""

    def connection(
        self, *, streaming: bool = False
    ) -> AbstractAsyncContextManager[asyncpg.Connection]: ...

    def transaction(
        self, *, streaming: bool = False
    ) -> AbstractAsyncContextManager[asyncpg.Connection]: ...

    async def fetch(
        self, sql: str, *args: Any, timeout: float | None = None, retry: bool = True
    ) -> list[asyncpg.Record]: ...

    async def fetchrow(
        self, sql: str, *args: Any, timeout: float | None = None, retry: bool = True
    ) -> asyncpg.Record | None: ...

    async def fetchval(
        self, sql: str, *args: Any, timeout: float | None = None, retry: bool = True
    ) -> Any: ...

    async def execute(
        self, sql: str, *args: Any, timeout: float | None = None, retry: bool = False
    ) -> str: ...


def _decoded(record: asyncpg.Record) -> dict[str, Any]:
    """The record as a dict, its JSON columns decoded."""
    out = dict(record)
    for key in _JSON_COLUMNS & out.keys():
        if isinstance(out[key], str):
            out[key] = json.loads(out[key])
    return out


def _row(record: asyncpg.Record | None) -> dict[str, Any] | None:
    return None if record is None else _decoded(record)


def _present(record: asyncpg.Record | None, what: str) -> asyncpg.Record:
    """The record a statement must return; a clear error when it returned none."""
    if record is None:
        raise RuntimeError(f"{what} returned no row")
    return record


def _must(record: asyncpg.Record | None, what: str) -> dict[str, Any]:
    return _decoded(_present(record, what))


def _plan_columns() -> str:
    """Plan columns with the jsonb ones read as text (decoded here, whatever codecs are set)."""
    return ", ".join(f"{c}::text as {c}" if c in _JSON_COLUMNS else c for c in REQUIRED["plans"])


# -- sessions ---------------------------------------------------------------------------

_SESSION_COLS = columns("sessions")
_INSERT_SESSION = (
    f"insert into sessions (session_id, user_name, room) values ($1, $2, $3) "
    f"returning {_SESSION_COLS}"
)
_GET_SESSION = f"select {_SESSION_COLS} from sessions where session_id = $1"


async def create_session(db: Database, session_id: str, user: str, room: str) -> dict[str, Any]:
    """Persist a session (the caller makes the id); returns the stored row."""
    return _must(await db.fetchrow(_INSERT_SESSION, session_id, user, room, retry=False),
                 "insert into sessions")


async def get_session(db: Database, session_id: str) -> dict[str, Any] | None:
    """The session, or ``None``."""
    return _row(await db.fetchrow(_GET_SESSION, session_id))


# -- messages ---------------------------------------------------------------------------

_MESSAGE_COLS = columns("messages")
_INSERT_IDEMPOTENT = (
    "insert into messages (room, session_id, body, idempotency_key, request_hash) "
    "values ($1, $2, $3, $4, $5) on conflict (idempotency_key) do nothing "
    f"returning {_MESSAGE_COLS}"
)
_BY_KEY = f"select {_MESSAGE_COLS} from messages where idempotency_key = $1"
_INSERT_NAIVE = (
    "insert into messages (room, session_id, body, idempotency_key, request_hash) "
    f"values ($1, $2, $3, $4, $5) returning {_MESSAGE_COLS}"
)
_PAGE = (
    f"select {_MESSAGE_COLS} from messages where room = $1 and id > $2 order by id limit $3"
)
_EXPORT = f"select {_MESSAGE_COLS} from messages where room = $1 order by id"


async def insert_message_idempotent(
    db: Database, *, key: str, room: str, session_id: str | None, body: str, request_hash: str
) -> tuple[asyncpg.Record, bool]:
    """Write the message once per ``key``: ``(row, True)`` when created, ``(stored, False)`` on
    a replay with the same ``request_hash``; :class:`IdempotencyConflict` for another hash.

    One autocommit statement, so its completion is the commit: a connection lost before
    the answer leaves the outcome unknown, the caller gets an error (never an ack) and the
    client retries with the key. Because the key makes the statement safe to repeat, the
    manager may retry it too (``retry=True``): a retry after a landed first attempt finds
    the key and answers the replay. The read-back needs no transaction: ``on conflict``
    waits for a concurrent inserter, so a key that conflicts is committed.
    """
    if not key:
        raise ValueError("insert_message_idempotent needs a non-empty idempotency key")
    created = await db.fetchrow(_INSERT_IDEMPOTENT, room, session_id, body, key, request_hash,
                                retry=True)
    if created is not None:
        return created, True
    stored = _present(await db.fetchrow(_BY_KEY, key), f"messages with key {key!r}")
    if stored["request_hash"] != request_hash:
        raise IdempotencyConflict(key, stored["request_hash"], request_hash)
    return stored, False


async def insert_message_naive(
    db: Database, *, room: str, session_id: str | None, body: str,
    key: str | None = None, request_hash: str | None = None,
) -> asyncpg.Record:
    """The naive profile's insert: no key check, so a retried POST makes another row.

    The key is still stored, so the harness can count the duplicates.
    """
    return _present(await db.fetchrow(_INSERT_NAIVE, room, session_id, body, key, request_hash,
                                      retry=False), "insert into messages")


async def list_messages(
    db: Database, room: str, after_id: int = 0, limit: int = 100
) -> list[asyncpg.Record]:
    """Up to ``limit`` messages of ``room`` with ``id > after_id``, oldest first (keyset page).

    The next page starts after the last ``id`` returned. The one query here that returns
    asyncpg's read-only records rather than dicts: messages have no JSON column to decode,
    the page is the hot read path, and the caller shapes every row anyway (a dict copy of
    a 50-row page cost ~35 us a request).
    """
    if not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"limit must be between 1 and {MAX_PAGE}, got {limit}")
    if after_id < 0:
        raise ValueError(f"after_id must be >= 0, got {after_id}")
    return await db.fetch(_PAGE, room, after_id, limit)


async def export_messages(
    db: Database, room: str, *, batch_size: int = 1000
) -> AsyncIterator[list[dict[str, Any]]]:
    """Every message of ``room`` in id order, in batches from a server-side cursor.

    Memory stays at one batch however long the history. The cursor lives in a
    transaction holding one pooled connection until the iteration ends; close
    the generator (``aclose``, or ``contextlib.aclosing``) if you stop early.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    async with db.transaction(streaming=True) as conn:
        cursor = await conn.cursor(_EXPORT, room)
        while True:
            records = await cursor.fetch(batch_size)
            if not records:
                return
            yield [_must(r, "export") for r in records]


# -- nodes and plans ------------------------------------------------------------------------

_GET_NODE = f"select {columns('nodes')} from nodes where node_id = $1"
_PLAN_COLS = _plan_columns()
_INSERT_PLAN = (
    "insert into plans (plan_id, node_id, steps, status) values ($1, $2, $3::text::jsonb, $4) "
    f"returning {_PLAN_COLS}"
)
_GET_PLAN = f"select {_PLAN_COLS} from plans where plan_id = $1"
_UPDATE_PLAN = (
    "update plans set status = $2, result = coalesce($3::text::jsonb, result), "
    "attempts = coalesce($4, attempts), updated_at = now() "
    f"where plan_id = $1 returning {_PLAN_COLS}"
)


async def get_node(db: Database, node_id: str) -> dict[str, Any] | None:
    """The node with this ``node_id`` (the column migration 002 introduces), or ``None``."""
    return _row(await db.fetchrow(_GET_NODE, node_id))


async def create_plan(
    db: Database, plan_id: str, node_id: str, steps: list[Any], status: str = "queued"
) -> dict[str, Any]:
    """Persist a new plan (``steps`` stored as jsonb); returns the stored row."""
    record = await db.fetchrow(_INSERT_PLAN, plan_id, node_id, json.dumps(steps), status,
                               retry=False)
    return _must(record, "insert into plans")


async def get_plan(db: Database, plan_id: str) -> dict[str, Any] | None:
    """The plan, or ``None``."""
    return _row(await db.fetchrow(_GET_PLAN, plan_id))


async def update_plan(
    db: Database, plan_id: str, *, status: str, result: Any = None, attempts: int | None = None
) -> dict[str, Any] | None:
    """Set a plan's status (and result / attempts when given); ``None`` if there is no such plan."""
    encoded = None if result is None else json.dumps(result)
    return _row(await db.fetchrow(_UPDATE_PLAN, plan_id, status, encoded, attempts, retry=False))
