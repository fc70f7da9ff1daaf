"""Chaos hooks for the harness; mounted only with ``--chaos-hooks``, each needs the admin token.

- ``POST /api/chaos/memory/snapshot``: a tracemalloc diff in the shape of
  docs/run-directory.md ``memory/diff-NNNN.json`` (tracing starts on the first call).
- ``POST /api/chaos/raise/{handler|task|thread}``: raise where the error boundary must catch it.
- ``POST /api/chaos/flood_tasks`` ``{count}``: submit many short tasks at once.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Literal

from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from reference_impl.app.deps import RuntimeDep, require_admin
from reference_impl.resilience.errors import QueueFullError

__all__ = ["ChaosError", "router"]

router = APIRouter(prefix="/api/chaos", tags=["chaos"], dependencies=[Depends(require_admin)])
FLOOD_TASK_SECONDS = 0.05


class ChaosError(RuntimeError):
    """Raised on purpose by a chaos hook."""


class Flood(BaseModel):
    count: int = Field(ge=1, le=100_000)
    seconds: float = Field(default=FLOOD_TASK_SECONDS, ge=0.0, le=60.0)


@router.post("/memory/snapshot")
async def memory_snapshot(runtime: RuntimeDep) -> dict[str, Any]:
    """Take a snapshot and return its top-N diff against the previous one."""
    return await run_in_threadpool(runtime.backend.memory_snapshot)


async def _raise_in_task() -> None:
    await asyncio.sleep(0)
    raise ChaosError("chaos: raised in a background task")


def _raise_in_thread() -> None:
    raise ChaosError("chaos: raised in a thread")


@router.post("/raise/{where}")
async def raise_somewhere(where: Literal["handler", "task", "thread"],
                          runtime: RuntimeDep) -> dict[str, Any]:
    """Raise in this handler (the request fails), in a background task, or in a thread."""
    if where == "handler":
        raise ChaosError("chaos: raised in a handler")
    if where == "task":
        runtime.backend.spawn(_raise_in_task(), "chaos-raise")
    else:
        thread = threading.Thread(target=_raise_in_thread, name="chaos-raise", daemon=True)
        thread.start()
        await asyncio.to_thread(thread.join, 5.0)
    return {"raised": where}


@router.post("/flood_tasks")
async def flood_tasks(body: Flood, runtime: RuntimeDep) -> dict[str, Any]:
    """Submit ``count`` tasks of ``seconds`` each; report how many the queue took and refused."""
    seconds = body.seconds

    async def task() -> None:
        await asyncio.sleep(seconds)

    accepted = rejected = 0
    for _ in range(body.count):
        try:
            runtime.backend.submit("chaos-flood", task)
            accepted += 1
        except QueueFullError:
            rejected += 1
    return {"accepted": accepted, "rejected": rejected}
