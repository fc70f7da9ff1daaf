"""A raw ASGI app under real uvicorn that fails the ways an app without an error boundary does.

Run as a real subprocess by the stderr-scanner test; uvicorn and asyncio write the
tracebacks themselves, so the scanner is tested on their genuine output:

- ``/boom``: the handler raises (uvicorn: ``Exception in ASGI application`` + traceback);
- ``/chained``: the handler raises ``RuntimeError`` from a ``KeyError`` (one chained traceback);
- ``/task``: a background task raises and is dropped (asyncio: ``Task exception was never
  retrieved`` + traceback, at garbage collection);
- ``/json``: a structured ``unhandled_error`` line whose traceback text is inside the JSON.

    python crashy_asgi.py --port-file PATH
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import socket
import sys
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

import uvicorn

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


async def _reply(send: Send, status: int = 200) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"ok"})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _failing_task() -> None:
    raise RuntimeError("background task failed")


async def _drop_failed_task() -> None:
    task = asyncio.get_running_loop().create_task(_failing_task())
    await asyncio.sleep(0.01)
    del task
    gc.collect()  # the loop logs the never-retrieved exception when the task is collected


def _structured_error() -> None:
    try:
        raise ValueError("boundary caught this")
    except ValueError as exc:
        line = {"event": "unhandled_error", "class": "validation",
                "traceback": "".join(traceback.format_exception(exc))}
    print(json.dumps(line), file=sys.stderr, flush=True)


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    path = scope["path"]
    if path == "/boom":
        raise ValueError("handler failed")
    if path == "/chained":
        try:
            {}["missing"]  # noqa: B018 - raises on purpose
        except KeyError as exc:
            raise RuntimeError("lookup failed") from exc
    if path == "/task":
        await _drop_failed_task()
    if path == "/json":
        _structured_error()
    await _reply(send)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port-file", required=True)
    args = parser.parse_args()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as fh:
        fh.write(str(sock.getsockname()[1]))
    os.replace(tmp, args.port_file)
    config = uvicorn.Config(app, log_level="info", access_log=False, lifespan="on")
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
