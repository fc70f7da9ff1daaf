"""Serving the app under uvicorn, with a shutdown that drains before it stops accepting.

uvicorn, on SIGTERM, closes its listener at once. Here the signal handler only
records; the server's own tick then runs the shutdown as an ordered, bounded list:

1. readiness answers 503 (``AppRuntime.begin_drain``) for ``drain_grace_s``,
   so whoever routes traffic here stops sending it;
2. uvicorn stops accepting and lets in-flight requests finish, at most
   ``drain_timeout_s`` (then it cancels them and logs how many);
3. the ASGI lifespan stops the backend: background tasks cancelled, the pool
   closed within its bound, logs flushed; the process exits 0.

A second signal forces the exit (code 1). The naive profile runs uvicorn's
stock behaviour (no drain phase; uvicorn re-raises the signal when it is done).

The listening socket is bound here (port 0 allowed) and handed to uvicorn, so
the real port is known without a race; ``listening on http://HOST:PORT`` is
printed on stdout once the server accepts connections.
"""

from __future__ import annotations

import asyncio
import logging
import math
import socket
import sys
from types import FrameType

import uvicorn
from fastapi import FastAPI

from reference_impl.app.factory import create_app
from reference_impl.app.logs import configure_logging
from reference_impl.app.runtime import AppRuntime
from reference_impl.config import AppConfig

__all__ = ["EXIT_FORCED", "EXIT_OK", "EXIT_STARTUP_FAILED", "bind_socket", "serve"]

log = logging.getLogger("reference_impl.server")
EXIT_OK = 0
EXIT_FORCED = 1
EXIT_STARTUP_FAILED = 3


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening-ready socket bound to ``host:port`` (0: a free port chosen by the kernel)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def _url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class _AnnouncingServer(uvicorn.Server):
    """uvicorn's server that prints the bound URL once it accepts connections."""

    def __init__(self, config: uvicorn.Config, url: str) -> None:
        super().__init__(config)
        self.url = url

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            print(f"listening on {self.url}", flush=True)


class DrainingServer(_AnnouncingServer):
    """Signals only record; the tick runs the drain and then lets uvicorn shut down."""

    def __init__(self, config: uvicorn.Config, url: str, runtime: AppRuntime) -> None:
        super().__init__(config, url)
        self.runtime = runtime
        self.signals_received = 0
        self._drain_task: asyncio.Task[None] | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # A signal handler: record only (no re-raise at exit: a drained exit is a clean exit).
        self.signals_received += 1
        if self.signals_received > 1:
            self.force_exit = self.should_exit = True

    async def on_tick(self, counter: int) -> bool:
        if self.signals_received and self._drain_task is None:
            self._drain_task = asyncio.get_running_loop().create_task(self._drain(),
                                                                      name="drain")
        return await super().on_tick(counter)

    async def _drain(self) -> None:
        grace = self.runtime.config.drain_grace_s
        log.info("shutdown requested: readiness 503, %d in flight, closing in %.1fs",
                 self.runtime.inflight.count, grace)
        self.runtime.begin_drain()
        await asyncio.sleep(grace)
        log.info("closing the listener; %d requests in flight finish within %.1fs",
                 self.runtime.inflight.count, self.runtime.config.drain_timeout_s)
        self.should_exit = True


def _uvicorn_config(config: AppConfig, app: FastAPI) -> uvicorn.Config:
    drain = math.ceil(config.drain_timeout_s) if config.profile == "resilient" else None
    return uvicorn.Config(
        app, lifespan="on", log_config=None, access_log=False, loop="auto",
        timeout_graceful_shutdown=drain,
        log_level=config.log_level, server_header=False,
    )


def serve(config: AppConfig) -> int:
    """Run the app until it is told to stop; return the process exit code.

    0 after a graceful shutdown, 1 when a second signal forced it, 3 when the
    app failed to start (the naive profile with Postgres down).
    """
    handler = configure_logging(config.log_level)
    sock = bind_socket(config.host, config.port)
    app = create_app(config)
    runtime: AppRuntime = app.state.runtime
    uv_config = _uvicorn_config(config, app)
    server: _AnnouncingServer
    if config.profile == "resilient":
        server = DrainingServer(uv_config, _url(sock), runtime)
    else:
        server = _AnnouncingServer(uv_config, _url(sock))
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
        handler.flush()
        sys.stdout.flush()
    if not server.started:
        return EXIT_STARTUP_FAILED
    return EXIT_FORCED if server.force_exit else EXIT_OK
