"""The opt-in online data-safety checker (``[verify] abort_on_lost_write = true``).

A thread polls Postgres with the scenario's writes SQL while the run goes on, and
tails the load generator's ``requests*.csv`` files as they grow. An acknowledged key
missing from a read that *started after the ack was received* is a lost write, found
now instead of at the end: the conductor can stop the run on :attr:`violation`.

Why this is sound: the app answers 2xx only after COMMIT, the client records the
response after receiving it (``t_s + latency_ms`` is when the ack arrived), and a
single SELECT sees everything committed before it started. Only keys whose ack is
already in the CSV when the read starts are judged against that read, so a row the
load generator has not flushed yet can never be blamed on a read that missed it.
Every acknowledged key is checked on every read (a key seen once and gone later,
e.g. after a crash with fsync off, is a lost write too).
"""

from __future__ import annotations

import asyncio
import csv
import threading
import time
from collections.abc import Callable
from pathlib import Path

import asyncpg

__all__ = ["CsvTail", "OnlineWriteChecker"]

#: Connect and query bounds: a poll never hangs longer than this on a dead database.
CONNECT_TIMEOUT_S = 2.0
QUERY_TIMEOUT_S = 10.0


class CsvTail:
    """Reads the complete lines appended to one CSV file since the last call."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self._header: dict[str, int] | None = None

    def new_rows(self) -> list[dict[str, str]]:
        """Rows (as header -> value) of the complete lines appended since the last call."""
        try:
            with self.path.open("rb") as fh:
                fh.seek(self._offset)
                chunk = fh.read()
        except FileNotFoundError:
            return []
        end = chunk.rfind(b"\n")
        if end < 0:
            return []
        self._offset += end + 1
        lines = chunk[: end + 1].decode("utf-8", errors="replace").splitlines()
        rows: list[dict[str, str]] = []
        for fields in csv.reader(lines):
            if not fields:
                continue
            if self._header is None:
                self._header = {name: i for i, name in enumerate(fields)}
                continue
            rows.append({k: fields[i] if i < len(fields) else "" for k, i in self._header.items()})
        return rows


class OnlineWriteChecker:
    """Polls Postgres every ``interval_s`` and flags the first lost acknowledged write.

    ``t0_monotonic`` is the run's zero (``CHAOSHARNESS_T0_MONOTONIC``), so read start
    times compare with the CSV's ``t_s``. ``on_violation`` (optional) is called once,
    from the checker's thread, with the violation dict; the conductor should write it to
    timeline.jsonl as ``{"event": "online_violation", ...}`` (verify reports it beside the
    final accounting) and stop the load.
    """

    def __init__(
        self, dsn: str, sql: str, requests_dir: Path, t0_monotonic: float,
        interval_s: float = 1.0, on_violation: Callable[[dict[str, object]], None] | None = None,
    ) -> None:
        self.dsn = dsn
        self.sql = sql
        self.requests_dir = Path(requests_dir)
        self.t0 = t0_monotonic
        self.interval_s = interval_s
        self.on_violation = on_violation
        self.violation: dict[str, object] | None = None
        self.polls = 0
        self.read_errors = 0
        self.last_error: str | None = None
        self._acked: dict[str, float] = {}
        self._tails: dict[Path, CsvTail] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start polling in a daemon thread."""
        if self._thread is not None:
            raise RuntimeError("OnlineWriteChecker already started")
        self._thread = threading.Thread(target=self._run, name="online-write-checker",
                                        daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 15.0) -> None:
        """Stop polling and wait (bounded) for the thread to finish."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    @property
    def acknowledged(self) -> int:
        """How many acknowledged keys the checker knows of."""
        return len(self._acked)

    def _now_s(self) -> float:
        return time.monotonic() - self.t0

    def _run(self) -> None:
        asyncio.run(self._loop())

    async def _loop(self) -> None:
        conn: asyncpg.Connection | None = None
        try:
            while not self._stop.is_set() and self.violation is None:
                conn = await self._poll(conn)
                await asyncio.to_thread(self._stop.wait, self.interval_s)
        finally:
            if conn is not None:
                await _close(conn)

    def _ingest(self) -> None:
        for path in sorted(self.requests_dir.glob("requests*.csv")):
            tail = self._tails.setdefault(path, CsvTail(path))
            for row in tail.new_rows():
                key = row.get("write_key") or ""
                if key and row.get("ack") == "1" and key not in self._acked:
                    try:
                        end = float(row["t_s"]) + float(row.get("latency_ms") or 0) / 1000.0
                    except (KeyError, ValueError):
                        continue
                    self._acked[key] = end

    async def _poll(self, conn: asyncpg.Connection | None) -> asyncpg.Connection | None:
        """One round: ingest new CSV rows, then read the keys; returns the connection to keep."""
        self._ingest()
        judged = dict(self._acked)  # only acks known before the read starts
        started = self._now_s()
        try:
            if conn is None or conn.is_closed():
                conn = await asyncpg.connect(self.dsn, timeout=CONNECT_TIMEOUT_S)
            rows = await conn.fetch(self.sql, timeout=QUERY_TIMEOUT_S)
        except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            self.read_errors += 1
            self.last_error = f"{type(exc).__name__}: {exc}"
            if conn is not None:
                await _close(conn)
            return None
        self.polls += 1
        present = {str(r[0]) for r in rows if r[0] is not None}
        for key, acked_t in judged.items():
            if acked_t < started and key not in present:
                self._flag(key, acked_t, started, len(present))
                break
        return conn

    def _flag(self, key: str, acked_t: float, started: float, rows: int) -> None:
        self.violation = {
            "key": key, "acked_t_s": acked_t, "read_started_t_s": started,
            "evidence": (f"key {key!r} was acknowledged at t={acked_t:.3f}s but is absent from "
                         f"a read started at t={started:.3f}s ({rows} keys read)"),
            "read_keys": rows, "polls": self.polls, "sql": self.sql,
        }
        if self.on_violation is not None:
            self.on_violation(self.violation)


async def _close(conn: asyncpg.Connection) -> None:
    """Close within a bound; a dead server gets the connection terminated instead."""
    try:
        await asyncio.wait_for(conn.close(), timeout=CONNECT_TIMEOUT_S)
    except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
        conn.terminate()
