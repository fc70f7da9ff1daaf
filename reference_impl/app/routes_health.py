"""Liveness, readiness and pool figures.

``/health`` does no I/O and answers 200 from the first moment the server
listens until it exits: the process is alive. ``/health/ready`` answers 503
with ``Retry-After`` and the reasons while the app should not get traffic
(starting, not migrated, schema invalid, breaker open, the background health
probe finding the database down, draining).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from reference_impl.app.deps import RuntimeDep
from reference_impl.app.errors import unavailable

__all__ = ["router"]

router = APIRouter(tags=["health"])


@router.get("/health")
async def liveness(runtime: RuntimeDep) -> dict[str, Any]:
    """Always 200 while the process serves: {status: alive, uptime_s}."""
    return {"status": "alive", "uptime_s": round(runtime.uptime_s(), 3)}


@router.get("/health/ready")
async def readiness(runtime: RuntimeDep) -> JSONResponse:
    """200 {status: ready} or 503 {error, reasons} with Retry-After."""
    state = runtime.readiness()
    if state.ready:
        return JSONResponse({"status": "ready"})
    return unavailable("not ready", state.retry_after_s, reasons=state.reasons)


@router.get("/health/db-pool")
async def db_pool(runtime: RuntimeDep) -> dict[str, Any]:
    """The pool's figures (size, in_use, idle, waiting, max, ...); null before it exists."""
    return {"pool": runtime.backend.stats().get("pool")}
