"""A tiny stand-in for the app, run as a real subprocess by the observer tests.

Serves ``/health``, ``/health/ready``, ``/api/monitoring/stats`` (in the
reference implementation's shape) and ``POST /api/chaos/memory/snapshot``
(bearer token), plus ``GET /raise`` which prints a real chained traceback to
stderr, as an app without an error boundary would. It binds port 0 and writes
the port it got into ``--port-file`` (atomically), so there is no free-port race.

    python fake_app.py --port-file PATH [--token TOKEN] [--snapshot-delay SECONDS] [--minimal]

``--minimal`` serves ``/health`` only (everything else is 404), like a user's own
service without the reference app's monitoring endpoints.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _State:
    def __init__(self, token: str | None, snapshot_delay_s: float, minimal: bool) -> None:
        self.token = token
        self.minimal = minimal
        self.snapshot_delay_s = snapshot_delay_s
        self.lock = threading.Lock()
        self.requests = 0
        self.snapshots = 0
        self.unhandled = 0


def _stats(state: _State) -> dict[str, Any]:
    return {
        "profile": "resilient",
        "ready": True,
        "pool": {"size": 4, "in_use": 1, "idle": 3, "waiting": 0, "max": 10},
        "breakers": {"database": {"name": "database", "state": "closed", "calls": 3}},
        "tasks": {"queued": 2, "running": 1, "max_queue": 1000, "rejected": 0},
        "errors_unhandled": state.unhandled,
        "memory": {"rss_bytes": 1, "traced_bytes": 4096, "warnings_total": 0},
        "http": {"requests": state.requests},
    }


def _snapshot(state: _State) -> dict[str, Any]:
    state.snapshots += 1
    n = state.snapshots
    site = "reference_impl/app/routes_messages.py:88"
    return {
        "t_s": float(n),
        "total_bytes": 1000 * n,
        "total_diff_bytes": 1000,
        "top": [{"site": site, "size_bytes": 100 * n, "size_diff_bytes": 100,
                 "count": n, "count_diff": 1, "traceback": [site]}],
    }


def _print_chained_traceback() -> None:
    try:
        try:
            raise KeyError("missing")
        except KeyError as exc:
            raise ValueError("handler failed") from exc
    except ValueError:
        print("ERROR:    Exception in ASGI application", file=sys.stderr)
        traceback.print_exc(file=sys.stderr)
        sys.stderr.flush()


def make_handler(state: _State) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return  # keep the log for tracebacks only

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            with state.lock:
                state.requests += 1
                if self.path == "/health":
                    self._send(200, {"status": "alive"})
                elif state.minimal:
                    self._send(404, {"error": "not found"})
                elif self.path == "/health/ready":
                    self._send(200, {"status": "ready"})
                elif self.path == "/api/monitoring/stats":
                    self._send(200, _stats(state))
                elif self.path == "/raise":
                    _print_chained_traceback()
                    self._send(500, {"error": "internal"})
                else:
                    self._send(404, {"error": "not found"})

        def do_POST(self) -> None:
            time.sleep(state.snapshot_delay_s)  # a slow tracemalloc snapshot, outside the lock
            with state.lock:
                if self.path != "/api/chaos/memory/snapshot":
                    self._send(404, {"error": "not found"})
                elif state.token and self.headers.get("Authorization") != f"Bearer {state.token}":
                    self._send(401, {"error": "admin token required"})
                else:
                    self._send(200, _snapshot(state))

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--token", default=None)
    parser.add_argument("--snapshot-delay", type=float, default=0.0)
    parser.add_argument("--minimal", action="store_true")
    args = parser.parse_args()
    state = _State(args.token, args.snapshot_delay, args.minimal)
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(state))
    server.daemon_threads = True
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as fh:
        fh.write(str(server.server_address[1]))
    os.replace(tmp, args.port_file)
    server.serve_forever(poll_interval=0.05)


if __name__ == "__main__":
    main()
