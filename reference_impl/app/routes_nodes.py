"""Node lookup by ``node_id`` (the column migration 002 introduces)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException

from reference_impl.app.deps import StoreDep

__all__ = ["router"]

router = APIRouter(prefix="/api/nodes", tags=["nodes"])


@router.get("/{node_id}")
async def get_node(node_id: str, store: StoreDep) -> dict[str, Any]:
    """200 {node_id, name, kind}, or 404."""
    node = await store.get_node(node_id)
    if node is None:
        raise HTTPException(404, f"no node {node_id!r}")
    return node
