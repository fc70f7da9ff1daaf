"""Posting messages: idempotent writes acknowledged only after commit.

``Idempotency-Key`` is required. The first request with a key inserts and
answers 201; the same key with the same body answers 200 with the stored body
(no second row); the same key with another body is 409. When the database
cannot serve (or the commit outcome is unknown) the answer is 503 with
Retry-After, never an acknowledgement. (Unless a planted write bug is switched on:
``REFERENCE_IMPL_PLANT_WRITE_BEHIND=1``, see ``planted_write_behind``, or
``REFERENCE_IMPL_PLANT_REJECT_AFTER_COMMIT`` / ``REFERENCE_IMPL_PLANT_GHOST_WRITE``, see
``planted_bad_writes``; all off by default.)
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from reference_impl.app import planted_leak
from reference_impl.app.deps import runtime_of
from reference_impl.app.planted_bad_writes import GHOST_SUFFIX
from reference_impl.app.store import request_hash

__all__ = ["router"]

router = APIRouter(prefix="/api/rooms", tags=["messages"])
MAX_KEY_LENGTH = 200


class PostMessage(BaseModel):
    session_id: str = Field(min_length=1, max_length=200)
    text: str = Field(min_length=1, max_length=10_000)


# Read from the raw headers, not as a FastAPI ``Header()`` parameter: FastAPI inspects an
# optional parameter's annotation again on every request (~5 us on the hottest route).
# Declared here so the OpenAPI document still shows it.
_KEY_HEADER = {"name": "Idempotency-Key", "in": "header", "required": True,
               "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH}}


@router.post("/{room}/messages", status_code=201,
             openapi_extra={"parameters": [_KEY_HEADER]})
async def post_message(room: str, body: PostMessage, request: Request) -> JSONResponse:
    """201 {id, key, room, created_at} after commit; 200 with the same body on a replay."""
    idempotency_key = request.headers.get("idempotency-key")
    if not idempotency_key or len(idempotency_key) > MAX_KEY_LENGTH:
        raise HTTPException(400, f"Idempotency-Key header is required (1..{MAX_KEY_LENGTH} chars)")
    runtime = runtime_of(request)  # not a Depends: this is the hottest route
    body_hash = request_hash(room, body.session_id, body.text)
    if runtime.write_behind is not None:  # the planted write loss: acknowledged, not committed
        ack, created = runtime.write_behind.post(room, body.session_id, body.text,
                                                 idempotency_key, body_hash)
    else:
        ack, created = await runtime.backend.store().post_message(
            room, body.session_id, body.text, idempotency_key, body_hash)
        if created and runtime.ghost_write.hit():  # planted: a row under a key never sent
            ghost = idempotency_key + GHOST_SUFFIX
            await runtime.backend.store().post_message(
                room, body.session_id, body.text, ghost, request_hash(room, ghost, body.text))
        if created and runtime.reject_after_commit.hit():  # planted: committed, then a 4xx
            return JSONResponse({"detail": "planted: rejected after commit"}, status_code=422)
    if runtime.config.plant_leak:
        planted_leak.keep(body.text, ack)
    return JSONResponse(ack, status_code=201 if created else 200)
