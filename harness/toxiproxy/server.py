"""``python -m harness.toxiproxy``: the embedded Toxiproxy-compatible server.

    python -m harness.toxiproxy [--host 127.0.0.1] [--port 8474] [--config FILE] [--seed N]
                                [--populate-toxics] [--proxy-metrics]

Prints one line ``listening on HOST:PORT`` on stdout once the control API
accepts connections (with ``--port 0`` that is how a parent learns the port).
``--host localhost`` listens on 127.0.0.1 and ::1 (same port), since clients
resolve ``localhost`` either way. ``--config`` is a JSON array as for
``/populate``, applied before the API listens; a bad file ends the server with
exit code 2 and the reason on stderr. SIGTERM/SIGINT only record the request;
the loop then shuts down in order: stop accepting API connections, stop every
proxy (listeners closed, connections aborted), close API connections, exit 0.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import signal
import sys
import time
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

from harness.toxiproxy.api import VERSION, ToxiproxyApi
from harness.toxiproxy.http import HttpServer

__all__ = ["main", "parse_args"]

log = logging.getLogger("harness.toxiproxy")
SHUTDOWN_BOUND_S = 5.0


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m harness.toxiproxy",
        description="Embedded Toxiproxy-compatible fault proxy (Toxiproxy v2 HTTP API).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="control API host (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8474, help="control API port; 0 picks one")
    parser.add_argument("--config", type=Path, help="JSON array of proxies to create at start")
    parser.add_argument("--seed", type=int, help="seed for toxicity and jitter draws")
    parser.add_argument("--populate-toxics", action="store_true",
                        help="opt-in: also create the 'toxics' listed in --config and /populate "
                             "entries (the Go server ignores them)")
    parser.add_argument("--proxy-metrics", action="store_true",
                        help="serve per-proxy byte counters at /metrics (Prometheus text)")
    parser.add_argument("--version", action="version", version=f"toxiproxy-compatible {VERSION}")
    return parser.parse_args(argv)


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def main(argv: list[str] | None = None) -> int:
    """Run the server until SIGTERM/SIGINT; returns the process exit code."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        return runner.run(_serve(args))


async def _apply_config(api: ToxiproxyApi, path: Path) -> str | None:
    """Populate from ``path``; returns the problem, or None when every proxy started."""
    try:
        body = path.read_bytes()
    except OSError as exc:
        return f"--config {path}: cannot read: {exc.strerror or exc}"
    response = await api.dispatch("POST", ["populate"], body)
    if response.status != 201:
        return f"--config {path}: populate failed ({response.status}): {response.body.decode().strip()}"
    return None


async def _listen(http: HttpServer, host: str, port: int) -> str:
    """Bind the control API; ``localhost`` gets 127.0.0.1 and ::1 on one port."""
    first_host = "127.0.0.1" if host == "localhost" else host
    server = await http.listen(first_host, port)
    bound = server.sockets[0].getsockname()
    if host == "localhost":
        try:
            await http.listen("::1", bound[1])
        except OSError as exc:  # no IPv6 loopback here: 127.0.0.1 alone still serves
            log.warning("could not also listen on [::1]:%s: %s", bound[1], exc)
    return f"{bound[0]}:{bound[1]}" if ":" not in bound[0] else f"[{bound[0]}]:{bound[1]}"


async def _serve(args: argparse.Namespace) -> int:
    seed = args.seed if args.seed is not None else time.time_ns()
    api = ToxiproxyApi(random.Random(seed), populate_toxics=args.populate_toxics,
                      proxy_metrics=args.proxy_metrics)
    if args.config is not None:
        problem = await _apply_config(api, args.config)
        if problem is not None:
            print(problem, file=sys.stderr, flush=True)
            await _bounded(api.shutdown())
            return 2
    http = HttpServer(api.dispatch)
    try:
        where = await _listen(http, args.host, args.port)
    except OSError as exc:
        print(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr,
              flush=True)
        await _bounded(api.shutdown())
        return 1
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)  # handlers only record; the loop acts
    print(f"listening on {where}", flush=True)
    log.info("toxiproxy-compatible %s API on %s (seed %s)", VERSION, where, seed)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        await _bounded(http.close())
        await _bounded(api.shutdown())
    log.info("stopped")
    return 0


async def _bounded(coro: Coroutine[Any, Any, Any]) -> None:
    try:
        await asyncio.wait_for(coro, SHUTDOWN_BOUND_S)
    except TimeoutError:
        log.warning("shutdown step exceeded %.0fs; continuing", SHUTDOWN_BOUND_S)
