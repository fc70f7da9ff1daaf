"""``create_app(config) -> FastAPI``: one app instance with its own runtime and backend.

The ASGI lifespan starts the profile's backend. The resilient backend returns at
once and brings services up in the background (dependency order, retries), so
``/health`` answers from the first moment while ``/health/ready`` waits for the
critical services; the naive backend does what the "before" code did.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute

from reference_impl import __version__
from reference_impl.app import (
    routes_chaos,
    routes_export,
    routes_health,
    routes_history,
    routes_messages,
    routes_monitoring,
    routes_nodes,
    routes_plans,
    routes_sessions,
)
from reference_impl.app.errors import install_error_handlers
from reference_impl.app.metrics import StatsCollector
from reference_impl.app.middleware import RequestMiddleware
from reference_impl.app.planted_connection_leak import ConnectionLeakMiddleware
from reference_impl.app.runtime import AppRuntime, Backend
from reference_impl.config import AppConfig

__all__ = ["build_backend", "create_app"]

log = logging.getLogger("reference_impl.app")


def build_backend(config: AppConfig) -> Backend:
    """The backend of the configured profile."""
    if config.profile == "naive":
        from reference_impl.app.backend_naive import NaiveBackend

        return NaiveBackend(config)
    from reference_impl.app.backend_resilient import ResilientBackend

    return ResilientBackend(config)


def create_app(config: AppConfig, backend: Backend | None = None) -> FastAPI:
    """A FastAPI app serving the service API for ``config`` (no I/O until its lifespan runs)."""
    runtime = AppRuntime(config, backend or build_backend(config))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        log.info("starting profile=%s settings=%s", config.profile, config.public_dict())
        await runtime.backend.start()
        try:
            yield
        finally:
            runtime.begin_drain()
            if runtime.write_behind is not None:
                await runtime.write_behind.close(min(5.0, config.drain_timeout_s))
            await runtime.backend.stop(config.drain_timeout_s)
            log.info("stopped")

    app = FastAPI(title="reference_impl", version=__version__, lifespan=lifespan,
                  docs_url=None, redoc_url=None, openapi_url="/openapi.json")
    app.state.runtime = runtime
    runtime.metrics.registry.register(StatsCollector(runtime.stats))
    install_error_handlers(app)
    # Routes are matched in order: the load's hot paths first (no two patterns overlap).
    modules = [routes_messages, routes_history, routes_sessions, routes_health,
               routes_monitoring, routes_export, routes_nodes, routes_plans]
    if config.chaos_hooks:
        modules.append(routes_chaos)
    for module in modules:
        _mount_flat(app, module.router)
    app.add_middleware(RequestMiddleware, policy=runtime.policy)
    if runtime.connection_leak is not None:
        app.add_middleware(ConnectionLeakMiddleware, leak=runtime.connection_leak)
    return app


def _mount_flat(app: FastAPI, router: APIRouter) -> None:
    """``include_router`` without the nesting: the router's routes join the app's own list.

    FastAPI keeps an included router as a nested level that every request is matched
    through again (about 10 us a request here). A router's prefix, tags and
    dependencies are already part of each of its routes when they are declared, and
    ours set nothing else on the router, so its routes can be added as they are.
    """
    if router.routes and not all(isinstance(route, APIRoute) for route in router.routes):
        raise TypeError("only plain API routes can be mounted flat")
    app.router.routes.extend(router.routes)
