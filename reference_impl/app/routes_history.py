"""Message history of a room with keyset pagination (``after_id``), at most 500 per page."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from reference_impl.app.deps import store_of

__all__ = ["MAX_LIMIT", "router"]

router = APIRouter(prefix="/api/rooms", tags=["history"])
MAX_LIMIT = 500


@router.get("/{room}/messages")
async def list_messages(
    room: str, request: Request,
    after_id: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
) -> dict[str, Any]:
    """{room, messages: [...], next_after_id}: pass next_after_id back for the next page."""
    messages = await store_of(request).list_messages(room, after_id, limit)
    next_after = messages[-1]["id"] if len(messages) == limit else None
    return {"room": room, "messages": messages, "next_after_id": next_after}
