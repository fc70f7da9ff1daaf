"""A stream of idempotent writes against the app, as a careful client sends them.

Not a test module. Each writer thread posts messages with fresh keys; a write
that is not acknowledged (no answer, or not 2xx) is retried with the same key
after a short pause, until it is acknowledged or the stream is told to stop
and its retry bound passes. Every attempt is recorded with its monotonic time.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import httpx


@dataclass
class Attempt:
    t: float
    key: str
    status: int  # 0: no answer
    latency_s: float
    error: str = ""


@dataclass
class WriteStream:
    """``writers`` threads posting to ``room`` on ``url`` until ``stop()``."""

    url: str
    session_id: str
    room: str = "stream"
    writers: int = 4
    retry_pause_s: float = 0.05
    timeout_s: float = 3.0
    attempts: list[Attempt] = field(default_factory=list)
    acked: dict[str, int] = field(default_factory=dict)
    abandoned: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> WriteStream:
        for n in range(self.writers):
            thread = threading.Thread(target=self._run, args=(n,), name=f"writer-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self, retry_bound_s: float = 10.0) -> None:
        """Stop issuing new keys; pending keys get ``retry_bound_s`` to be acknowledged."""
        self._stop.set()
        self._stop_at = time.monotonic() + retry_bound_s
        for thread in self._threads:
            thread.join(retry_bound_s + self.timeout_s + 5.0)

    def _run(self, n: int) -> None:
        seq = 0
        with httpx.Client(base_url=self.url, timeout=self.timeout_s) as client:
            while not self._stop.is_set():
                seq += 1
                self._write(client, f"w{n}-{seq:06d}")

    def _write(self, client: httpx.Client, key: str) -> None:
        while True:
            started = time.monotonic()
            status, error = 0, ""
            try:
                response = client.post(f"/api/rooms/{self.room}/messages",
                                       json={"session_id": self.session_id, "text": key},
                                       headers={"Idempotency-Key": key})
                status = response.status_code
            except httpx.HTTPError as exc:
                error = type(exc).__name__
            with self._lock:
                self.attempts.append(Attempt(started, key, status, time.monotonic() - started,
                                             error))
                if 200 <= status < 300:
                    self.acked[key] = status
                    return
            if self._stop.is_set() and time.monotonic() > getattr(self, "_stop_at", 0.0):
                self.abandoned.append(key)
                return
            time.sleep(self.retry_pause_s)

    def statuses_between(self, t0: float, t1: float) -> list[int]:
        with self._lock:
            return [a.status for a in self.attempts if t0 <= a.t <= t1]

    def first_ack_after(self, t: float) -> float | None:
        with self._lock:
            times = [a.t + a.latency_s for a in self.attempts
                     if a.t >= t and 200 <= a.status < 300]
        return min(times) if times else None
