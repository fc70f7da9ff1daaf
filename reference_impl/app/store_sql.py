"""The two ``Store`` implementations over ``reference_impl.db.queries``.

- ``SqlStore`` (resilient): everything persisted; messages written once per
  Idempotency-Key (``insert_message_idempotent``), through the
  ``DatabaseManager`` (breaker, bounded waits, retries for reads and keyed writes).
- ``NaiveStore`` (the "before"): sessions kept in a dict of this process (lost
  on restart), every POST inserts a row (``insert_message_naive``), through the
  plain ``NaiveDatabase``.

Rows become the API's JSON shapes here, so both profiles answer alike.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from contextlib import aclosing
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

import asyncpg

from reference_impl.app.store import iso
from reference_impl.db import queries
from reference_impl.db.errors import DatabaseUnavailable
from reference_impl.db.queries import Database

__all__ = ["NaiveStore", "SqlStore"]

EXPORT_BATCH = 1000
T = TypeVar("T")
#: Driver-level failures that mean "this connection is unusable", not "this request is wrong".
DRIVER_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.InterfaceError, asyncpg.exceptions.InternalClientError, ConnectionError, OSError)


def _session(row: dict[str, Any]) -> dict[str, Any]:
    return {"session_id": row["session_id"], "user": row["user_name"], "room": row["room"],
            "joined_at": iso(row["joined_at"])}


def _ack(row: Mapping[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "key": row["idempotency_key"], "room": row["room"],
            "created_at": iso(row["created_at"])}


def _message(row: Mapping[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "room": row["room"], "session_id": row["session_id"],
            "text": row["body"], "key": row["idempotency_key"],
            "created_at": iso(row["created_at"])}


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    return {key: iso(value) for key, value in row.items()}


class SqlStore:
    """The resilient profile's store: every operation in Postgres, writes idempotent.

    Driver errors that escape the database layer unclassified (a broken
    connection's protocol state, a closed transport) say nothing about the
    request: they become ``DatabaseUnavailable`` (503 + Retry-After, never an
    acknowledgement) instead of a 500. ``on_unavailable`` hears every
    unavailability, so the app can turn readiness 503 at once.
    """

    def __init__(
        self, db: Database, on_unavailable: Callable[[DatabaseUnavailable], None] | None = None
    ) -> None:
        self.db = db
        self._on_unavailable = on_unavailable

    async def _guard(self, operation: Awaitable[T]) -> T:
        try:
            return await operation
        except DatabaseUnavailable as exc:
            if self._on_unavailable is not None:
                self._on_unavailable(exc)
            raise
        except DRIVER_ERRORS as exc:
            raise DatabaseUnavailable(
                "connection_broken", 1.0, f"{type(exc).__name__}: {exc}") from exc

    async def create_session(self, user: str, room: str) -> dict[str, Any]:
        row = await self._guard(queries.create_session(self.db, uuid.uuid4().hex, user, room))
        return _session(row)

    async def get_session(self, session_id: str) -> dict[str, Any] | None:
        row = await self._guard(queries.get_session(self.db, session_id))
        return None if row is None else _session(row)

    async def post_message(
        self, room: str, session_id: str, text: str, key: str, body_hash: str
    ) -> tuple[dict[str, Any], bool]:
        row, created = await self._guard(queries.insert_message_idempotent(
            self.db, key=key, room=room, session_id=session_id, body=text,
            request_hash=body_hash))
        return _ack(row), created

    async def list_messages(self, room: str, after_id: int, limit: int) -> list[dict[str, Any]]:
        rows = await self._guard(queries.list_messages(self.db, room, after_id, limit))
        return [_message(r) for r in rows]

    async def export_messages(self, room: str) -> AsyncGenerator[dict[str, Any], None]:
        batches = cast(AsyncGenerator[list[dict[str, Any]], None],
                       queries.export_messages(self.db, room, batch_size=EXPORT_BATCH))
        async with aclosing(batches):
            async for batch in batches:
                for row in batch:
                    yield _message(row)

    async def get_node(self, node_id: str) -> dict[str, Any] | None:
        row = await self._guard(queries.get_node(self.db, node_id))
        return None if row is None else _plain(row)

    async def create_plan(self, node_id: str, steps: list[Any]) -> dict[str, Any]:
        row = await self._guard(queries.create_plan(self.db, uuid.uuid4().hex, node_id, steps))
        return _plain(row)

    async def get_plan(self, plan_id: str) -> dict[str, Any] | None:
        row = await self._guard(queries.get_plan(self.db, plan_id))
        return None if row is None else _plain(row)

    async def update_plan(
        self, plan_id: str, status: str, result: Any = None, attempts: int | None = None
    ) -> None:
        await self._guard(queries.update_plan(self.db, plan_id, status=status, result=result,
                                              attempts=attempts))


class NaiveStore(SqlStore):
    """The naive profile's store: in-process sessions, a new row for every POST."""

    def __init__(self, db: Database) -> None:
        super().__init__(db)
        self.sessions: dict[str, dict[str, Any]] = {}

    async def _guard(self, operation: Awaitable[T]) -> T:
        return await operation  # the "before": driver errors surface as 500s

    async def create_session(self, user: str, room: str) -> dict[str, Any]:
        session = {"session_id": uuid.uuid4().hex, "user": user, "room": room,
                   "joined_at": datetime.now(UTC).isoformat()}
        self.sessions[session["session_id"]] = session
        return session

    async def get_session(self, session_id: str) -> dict[str, Any] | None:
        return self.sessions.get(session_id)

    async def post_message(
        self, room: str, session_id: str, text: str, key: str, body_hash: str
    ) -> tuple[dict[str, Any], bool]:
        row = await queries.insert_message_naive(
            self.db, room=room, session_id=session_id, body=text, key=key,
            request_hash=body_hash)
        return _ack(row), True
