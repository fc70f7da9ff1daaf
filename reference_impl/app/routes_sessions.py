"""Sessions: join a room (persisted, so it survives an app restart) and look one up."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field

from reference_impl.app.deps import StoreDep

__all__ = ["router"]

router = APIRouter(prefix="/api/sessions", tags=["sessions"])


class JoinRoom(BaseModel):
    user: str = Field(min_length=1, max_length=200)
    room: str = Field(min_length=1, max_length=200)


@router.post("", status_code=201)
async def create_session(body: JoinRoom, store: StoreDep) -> dict[str, Any]:
    """201 {session_id, user, room, joined_at} once the session is stored."""
    return await store.create_session(body.user, body.room)


@router.get("/{session_id}")
async def get_session(session_id: str, store: StoreDep) -> dict[str, Any]:
    """200 with the session, 404 when there is none."""
    session = await store.get_session(session_id)
    if session is None:
        raise HTTPException(404, f"no session {session_id!r}")
    return session
