"""How the app's own exceptions become HTTP answers (resilient profile).

Dependency trouble is never a hang and never a bare 500: it is 503 with
``Retry-After`` (whole seconds, rounded up, at least 1). A write whose commit
outcome is unknown is 503 too, never an acknowledgement: the client retries
under the same Idempotency-Key and the key settles it.
"""

from __future__ import annotations

import math

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from reference_impl.app.store import NotReady
from reference_impl.db.errors import DatabaseUnavailable, IdempotencyConflict, SchemaMismatch
from reference_impl.resilience.errors import CircuitOpenError, QueueFullError

__all__ = ["install_error_handlers", "unavailable"]


def unavailable(reason: str, retry_after_s: float, **extra: object) -> JSONResponse:
    """A 503 with ``Retry-After``."""
    seconds = max(1, math.ceil(retry_after_s))
    return JSONResponse({"error": reason, "retry_after_s": seconds, **extra}, status_code=503,
                        headers={"Retry-After": str(seconds)})


async def _database_unavailable(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DatabaseUnavailable)
    return unavailable(f"database unavailable: {exc.reason}", exc.retry_after_s,
                       detail=exc.detail or None)


async def _circuit_open(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, CircuitOpenError)
    return unavailable(f"circuit {exc.name} is open", exc.retry_after_s)


async def _queue_full(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, QueueFullError)
    return unavailable("task queue is full", exc.retry_after_s, max_queue=exc.max_queue)


async def _not_ready(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, NotReady)
    return unavailable(exc.reason, exc.retry_after_s)


async def _schema_mismatch(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, SchemaMismatch)
    return unavailable("schema invalid", 5.0, problems=exc.problems)


async def _conflict(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, IdempotencyConflict)
    return JSONResponse({"error": "idempotency key reused with another body", "key": exc.key},
                        status_code=409)


def install_error_handlers(app: FastAPI) -> None:
    """Register the mappings above (NotReady for both profiles; the rest are raised only
    by the resilient stack)."""
    app.add_exception_handler(NotReady, _not_ready)
    app.add_exception_handler(DatabaseUnavailable, _database_unavailable)
    app.add_exception_handler(CircuitOpenError, _circuit_open)
    app.add_exception_handler(QueueFullError, _queue_full)
    app.add_exception_handler(SchemaMismatch, _schema_mismatch)
    app.add_exception_handler(IdempotencyConflict, _conflict)
