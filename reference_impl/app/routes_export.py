"""Streaming export of a room's history as NDJSON over a server-side cursor.

The body is produced row batch by row batch while the client reads it, so the
app's memory stays flat however long the history is.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import aclosing

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from reference_impl.app.deps import StoreDep
from reference_impl.app.store import Store

__all__ = ["router"]

router = APIRouter(prefix="/api/rooms", tags=["export"])
_FLUSH_BYTES = 64 * 1024


async def _ndjson(store: Store, room: str) -> AsyncIterator[bytes]:
    """Lines of JSON, sent in chunks of about 64 KiB."""
    chunk: list[bytes] = []
    size = 0
    messages = store.export_messages(room)
    async with aclosing(messages):  # a client that goes away releases the cursor at once
        async for message in messages:
            line = json.dumps(message, separators=(",", ":")).encode() + b"\n"
            chunk.append(line)
            size += len(line)
            if size >= _FLUSH_BYTES:
                yield b"".join(chunk)
                chunk, size = [], 0
    if chunk:
        yield b"".join(chunk)


@router.get("/{room}/messages/export")
async def export_messages(room: str, store: StoreDep) -> StreamingResponse:
    """Every message of the room, one JSON object per line, in id order."""
    return StreamingResponse(_ndjson(store, room), media_type="application/x-ndjson")
