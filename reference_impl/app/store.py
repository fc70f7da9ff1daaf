"""What the routes need from storage, as one small protocol both profiles satisfy.

The routes never see SQL, pools or profiles: they call a ``Store``. The
resilient store (``store_resilient``) goes through the DatabaseManager with its
breaker, retries and idempotency; the naive store (``store_naive``) is the
"before": a bare pool, sessions in a process-local dict, every POST inserts.
Both return plain JSON-ready dicts in the shapes of the service API
(ARCHITECTURE.md, "The service API").
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncGenerator
from datetime import datetime
from typing import Any, Protocol

__all__ = ["NotReady", "Store", "iso", "request_hash"]


class NotReady(Exception):
    """The app cannot serve this request yet (starting, migrating, schema invalid, draining).

    The HTTP layer answers 503 with ``Retry-After: retry_after_s``.
    """

    def __init__(self, reason: str, retry_after_s: float = 1.0) -> None:
        self.reason = reason
        self.retry_after_s = retry_after_s
        super().__init__(f"not ready: {reason}")


class Store(Protocol):
    """Storage operations behind the service API."""

    async def create_session(self, user: str, room: str) -> dict[str, Any]:
        """A new persisted session: {session_id, user, room, joined_at}."""
        ...

    async def get_session(self, session_id: str) -> dict[str, Any] | None: ...

    async def post_message(
        self, room: str, session_id: str, text: str, key: str, body_hash: str
    ) -> tuple[dict[str, Any], bool]:
        """({id, key, room, created_at}, created); created False = a replay of the same key."""
        ...

    async def list_messages(self, room: str, after_id: int, limit: int) -> list[dict[str, Any]]: ...

    def export_messages(self, room: str) -> AsyncGenerator[dict[str, Any], None]:
        """Every message of the room in id order, streamed (bounded memory)."""
        ...

    async def get_node(self, node_id: str) -> dict[str, Any] | None: ...

    async def create_plan(self, node_id: str, steps: list[Any]) -> dict[str, Any]: ...

    async def get_plan(self, plan_id: str) -> dict[str, Any] | None: ...

    async def update_plan(
        self, plan_id: str, status: str, result: Any = None, attempts: int | None = None
    ) -> None: ...


def iso(value: Any) -> Any:
    """A datetime as ISO-8601 text; anything else unchanged."""
    return value.isoformat() if isinstance(value, datetime) else value


def request_hash(room: str, session_id: str, text: str) -> str:
    """The fingerprint of a write's body: the same key with another body is a conflict."""
    canonical = json.dumps([room, session_id, text], separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()
