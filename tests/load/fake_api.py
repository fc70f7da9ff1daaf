"""A tiny stand-in for the reference API, for the load tests (run as a subprocess).

``python fake_api.py LOG_PATH``: binds 127.0.0.1:0, prints ``PORT <n>`` and serves the
reference API's shape with ThreadingHTTPServer. Each request appends
``<task name>\\t<idempotency key>`` to LOG_PATH, so a test can compare what the server
saw with what the recorder wrote. Faults, by key (crc32 of the key), first attempt only:

- crc % 4 == 0: 503 with ``Retry-After: 0`` and nothing committed (a retry must follow);
- crc % 10 == 1 (and not the above): commit, then answer after 1.5 s, past the client's
  1 s timeout (the ack is lost; the retry with the same key gets 200 and the same body);
- crc % 10 == 2 (and not the first): close the connection without an answer, nothing
  committed (a connection error; the retry gets 201).
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

LOCK = threading.Lock()
SESSIONS: dict[str, str] = {}
MESSAGES: dict[str, dict[str, Any]] = {}
SEEN: set[str] = set()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _log(self, name: str, key: str = "") -> None:
        with LOCK, open(sys.argv[1], "a", encoding="utf-8") as fh:
            fh.write(f"{name}\t{key}\n")

    def _send(self, status: int, body: object, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length) or b"{}")

    def do_POST(self) -> None:  # noqa: N802
        body = self._body()
        if self.path == "/api/sessions":
            self._log("join_room")
            with LOCK:
                sid = f"s{len(SESSIONS) + 1}"
                SESSIONS[sid] = body["room"]
            self._send(201, {"session_id": sid, "user": body["user"], "room": body["room"]})
        elif self.path == "/api/plans":
            self._log("submit_plan")
            self._send(202, {"plan_id": "p1", "status": "queued"})
        elif m := re.fullmatch(r"/api/rooms/([^/]+)/messages", self.path):
            self._post_message(m.group(1), body)
        else:
            self._send(404, {"detail": "no route"})

    def _post_message(self, room: str, body: dict[str, Any]) -> None:
        key = self.headers.get("Idempotency-Key", "")
        self._log("post_message", key)
        if not key or body.get("session_id") not in SESSIONS:
            self._send(400 if not key else 404, {"detail": "bad request"})
            return
        crc = zlib.crc32(key.encode())
        with LOCK:
            first = key not in SEEN
            SEEN.add(key)
            if first and crc % 10 == 2 and crc % 4 != 0:
                self.close_connection = True  # no answer at all
                self.connection.shutdown(2)
                return
            if first and crc % 4 == 0:
                fail = True
            else:
                fail = False
                replay = key in MESSAGES
                if not replay:
                    MESSAGES[key] = {"id": len(MESSAGES) + 1, "key": key, "room": room}
                ack = MESSAGES[key]
        if fail:
            self._send(503, {"detail": "try again"}, {"Retry-After": "0"})
            return
        if first and crc % 10 == 1:
            time.sleep(1.5)
        self._send(200 if replay else 201, ack)

    def do_GET(self) -> None:  # noqa: N802
        if m := re.fullmatch(r"/api/nodes/node-(\d+)", self.path):
            self._log("lookup_node")
            found = int(m.group(1)) <= 5
            self._send(200 if found else 404, {"node_id": m.group(1)} if found else {})
        elif self.path.endswith("/messages/export"):
            self._log("export")
            self._send(200, {})
        elif "/messages" in self.path:
            self._log("read_history")
            self._send(200, {"messages": [], "next_after_id": 0})
        else:
            self._send(404, {})


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(f"PORT {server.server_address[1]}", flush=True)
    server.serve_forever(poll_interval=0.1)


if __name__ == "__main__":
    main()
