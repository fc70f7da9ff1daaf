"""Record every request Locust makes into ``requests-<pid>.csv`` (runs inside Locust).

A listener on Locust's ``request`` event formats one row per request, with exactly
the columns of docs/run-directory.md ``requests.csv``; rows are buffered and flushed
at least every second (a greenlet flushes even when no request comes) and at
``test_stop``, ``quitting`` and interpreter exit. The write key and attempt number
arrive in the request's ``context``; ``t_s`` is the request's start on the run's
clock: ``time.monotonic() - latency - t0_monotonic``.
"""

from __future__ import annotations

import atexit
import os
import re
import socket
import time
from pathlib import Path
from typing import IO, Any

import gevent
from locust.env import Environment

from harness.load.config import REQUEST_COLUMNS

__all__ = ["COLUMNS", "RequestRecorder", "error_class", "install"]

COLUMNS: tuple[str, ...] = REQUEST_COLUMNS
_HEADER = ",".join(COLUMNS) + "\n"


def error_class(status: int, exception: BaseException | None) -> str:
    """The ``error`` column: ``http_<status>``, ``timeout``, ``connection`` or ``other``."""
    if status and not 200 <= status < 300:
        return f"http_{status}"
    if exception is None or status:
        return "other"
    text = f"{type(exception).__name__} {exception}".lower()
    if isinstance(exception, TimeoutError | socket.timeout | gevent.Timeout) or "timeout" in text \
            or "timed out" in text:
        return "timeout"
    if isinstance(exception, ConnectionError | OSError) or any(
        word in text for word in ("refused", "reset", "closed", "broken pipe", "eof")
    ):
        return "connection"
    return "other"


_NEEDS_QUOTES = re.compile(r'[,"\r\n]').search


def _field(text: str) -> str:
    """A CSV field: quoted only when it must be (names and keys almost never need it)."""
    if _NEEDS_QUOTES(text):
        return '"' + text.replace('"', '""') + '"'
    return text


class RequestRecorder:
    """Buffered CSV writer of request rows for one process."""

    def __init__(
        self, requests_dir: Path | str, t0_monotonic: float, flush_every_s: float = 1.0
    ) -> None:
        self.path = Path(requests_dir) / f"requests-{os.getpid()}.csv"
        self.t0 = t0_monotonic
        self.flush_every_s = flush_every_s
        #: Flush as soon as this many rows wait (a shipping worker batches by count too).
        self.flush_rows = 1 << 30
        self.rows = 0
        self._lines: list[str] = []
        self._file: IO[str] | None = None
        self._last_flush = time.monotonic()
        self._closed = False
        self._names: dict[str, str] = {}

    def on_request(
        self, request_type: str, name: str, response_time: float, response_length: int,
        response: Any = None, context: dict[str, object] | None = None,
        exception: BaseException | None = None, **_: Any,
    ) -> None:
        """Locust ``request`` event listener: append one row."""
        now = time.monotonic()
        latency_ms = float(response_time or 0.0)
        status = int(getattr(response, "status_code", 0) or 0)
        ctx = context or {}
        key = ctx.get("write_key")
        if key:  # acknowledged: the careful client marked the attempt done (status and body)
            ack = "1" if ctx.get("ack", exception is None) else "0"
            key = _field(str(key))
        else:
            key = ack = ""
        label = self._names.get(name)
        if label is None:
            label = self._names[name] = _field(name)
        error = "" if exception is None else error_class(status, exception)
        self._lines.append(
            f"{now - latency_ms / 1000.0 - self.t0:.6f},{label},{status},"
            f"{0 if error else 1},{latency_ms:.3f},{error},{key},{ack},{ctx.get('attempt', 1)}\n"
        )
        self.rows += 1
        if now - self._last_flush >= self.flush_every_s or len(self._lines) >= self.flush_rows:
            self.flush()

    def flush(self) -> None:
        """Write buffered rows to disk (the file and header are created on first use)."""
        self._last_flush = time.monotonic()
        if not self._lines or self._closed:
            return
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a", encoding="utf-8", newline="")
            if self._file.tell() == 0:
                self._file.write(_HEADER)
        lines, self._lines = self._lines, []
        self._file.write("".join(lines))
        self._file.flush()

    def close(self) -> None:
        """Flush and close; later rows are dropped (the process is quitting)."""
        if self._closed:
            return
        self.flush()
        self._closed = True
        if self._file is not None:
            self._file.close()

    def flush_forever(self) -> None:
        """Greenlet body: flush every ``flush_every_s`` so quiet periods reach the disk too."""
        while not self._closed:
            gevent.sleep(self.flush_every_s)
            self.flush()


def install(
    environment: Environment, requests_dir: Path | str, t0_monotonic: float
) -> RequestRecorder:
    """Attach a recorder to ``environment``'s events and start its flusher greenlet."""
    recorder = RequestRecorder(requests_dir, t0_monotonic)
    events = environment.events
    events.request.add_listener(recorder.on_request)
    events.test_stop.add_listener(lambda **_: recorder.flush())
    events.quitting.add_listener(lambda **_: recorder.close())
    atexit.register(recorder.close)
    gevent.spawn(recorder.flush_forever)
    return recorder
