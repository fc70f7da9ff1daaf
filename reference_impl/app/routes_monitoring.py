"""Monitoring: health summary, stats, recent errors, breaker reset, Prometheus metrics."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from reference_impl.app.deps import RuntimeDep, require_admin
from reference_impl.app.metrics import CONTENT_TYPE

__all__ = ["router"]

router = APIRouter(tags=["monitoring"])


@router.get("/api/monitoring/health")
async def health_summary(runtime: RuntimeDep) -> dict[str, Any]:
    """healthy (ready), degraded (ready, an optional service down) or unhealthy, with why."""
    ready = runtime.readiness()
    stats = runtime.backend.stats()
    startup: dict[str, str] = stats.get("startup") or {}
    degraded = [name for name, state in startup.items() if state in ("degraded", "failed")]
    status = "unhealthy" if not ready.ready else "degraded" if degraded else "healthy"
    return {"status": status, "ready": ready.ready, "reasons": ready.reasons,
            "degraded_services": degraded, "startup": startup,
            "breakers": {name: snap.get("state") for name, snap in
                         (stats.get("breakers") or {}).items()},
            "schema": stats.get("schema"), "draining": runtime.draining}


@router.get("/api/monitoring/stats")
async def stats(runtime: RuntimeDep) -> dict[str, Any]:
    """Pool, breakers, tasks, errors (errors_unhandled), memory, startup, schema state and
    (resilient profile) the database health monitor (``health_monitor.db_up``, ...)."""
    return runtime.stats()


@router.get("/api/monitoring/errors")
async def errors(
    runtime: RuntimeDep, limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    error_type: Annotated[str | None, Query(alias="type")] = None,
) -> dict[str, Any]:
    """The most recent recorded errors (newest last), optionally of one class, and counts."""
    stats = runtime.backend.stats()
    return {"errors": runtime.backend.errors(limit, error_type),
            "errors_unhandled": stats.get("errors_unhandled", 0),
            "counts": stats.get("error_counts", {})}


@router.post("/api/monitoring/circuit-breaker/reset", dependencies=[Depends(require_admin)])
async def reset_breakers(runtime: RuntimeDep) -> dict[str, Any]:
    """Close every circuit breaker now (admin token required)."""
    return {"reset": runtime.backend.reset_breakers()}


@router.get("/metrics")
async def metrics(runtime: RuntimeDep) -> Response:
    """Prometheus text format."""
    return Response(runtime.metrics.render(), media_type=CONTENT_TYPE)
