"""Construction plans: accepted with 202 and processed by the task manager.

A plan is stored as ``queued`` first, then handed to the task manager; a full
queue turns into 503 + Retry-After (and the stored plan is marked
``rejected``), so the client knows to come back instead of waiting for a plan
that will never run.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, HTTPException
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from reference_impl.app.deps import RuntimeDep, StoreDep
from reference_impl.app.store import Store
from reference_impl.resilience.errors import QueueFullError

__all__ = ["router", "run_plan"]

router = APIRouter(prefix="/api/plans", tags=["plans"])
MAX_STEPS = 100
STEP_SECONDS = 0.005


class SubmitPlan(BaseModel):
    node_id: str = Field(min_length=1, max_length=200)
    steps: list[Any] = Field(default_factory=list, max_length=MAX_STEPS)


async def run_plan(store: Store, plan_id: str, steps: list[Any]) -> dict[str, Any]:
    """Process one plan: mark it running, work through its steps, store the result.

    A step ``{"fail": true}`` raises, so the task manager's retry and error
    accounting can be exercised through the public API.
    """
    await store.update_plan(plan_id, "running")
    for index, step in enumerate(steps):
        if isinstance(step, dict) and step.get("fail"):
            await store.update_plan(plan_id, "failed", {"failed_step": index})
            raise RuntimeError(f"plan {plan_id}: step {index} failed on purpose")
        await asyncio.sleep(STEP_SECONDS)
    result = {"steps_done": len(steps)}
    await store.update_plan(plan_id, "done", result)
    return result


@router.post("", status_code=202)
async def submit_plan(body: SubmitPlan, store: StoreDep, runtime: RuntimeDep) -> JSONResponse:
    """202 {plan_id, status}; 503 + Retry-After when the task queue is full."""
    plan = await store.create_plan(body.node_id, body.steps)
    plan_id = str(plan["plan_id"])
    steps = list(body.steps)
    try:
        runtime.backend.submit("plan", lambda: run_plan(store, plan_id, steps))
    except QueueFullError:
        await store.update_plan(plan_id, "rejected")
        raise
    return JSONResponse({"plan_id": plan_id, "status": plan.get("status", "queued")},
                        status_code=202)


@router.get("/{plan_id}")
async def get_plan(plan_id: str, store: StoreDep) -> dict[str, Any]:
    """The plan's status and, once done, its result; 404 when unknown."""
    plan = await store.get_plan(plan_id)
    if plan is None:
        raise HTTPException(404, f"no plan {plan_id!r}")
    return plan
