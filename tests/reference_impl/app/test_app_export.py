"""Streaming export of a long history: the app's memory stays flat."""

from __future__ import annotations

import threading

import httpx
import psutil
import pytest
from app_proc import start_app

from harness.provision.pg_probe import execute
from harness.provision.process import Supervisor

pytestmark = pytest.mark.integration

ROWS = 200_000
MB = 1024 * 1024


def test_export_of_200k_messages_keeps_rss_flat(supervisor: Supervisor, fresh_db: str) -> None:
    """200k messages streamed as NDJSON: every row arrives once, in order, and the app's RSS
    (sampled every 20 ms during the stream) grows by less than 20 MB over a warmed-up baseline."""
    app = start_app(supervisor, fresh_db, name="export")
    app.wait_ready(30)
    execute(fresh_db, "insert into messages (room, session_id, body, idempotency_key, request_hash)"
                      " select 'big', 's', repeat('x', 100) || g, 'k' || g, 'h'"
                      f" from generate_series(1, {ROWS}) g", timeout=60)
    execute(fresh_db, "insert into messages (room, session_id, body) values ('warm', 's', 'w')")
    assert len(app.get("/api/rooms/warm/messages/export").text.splitlines()) == 1
    proc = psutil.Process(app.child.pid)
    baseline = proc.memory_info().rss
    peak = [baseline]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.02):
            peak[0] = max(peak[0], proc.memory_info().rss)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    lines = 0
    last_tail = b""
    try:
        with httpx.Client(base_url=app.url, timeout=60) as client, \
                client.stream("GET", "/api/rooms/big/messages/export") as response:
            assert response.status_code == 200
            for chunk in response.iter_bytes():
                lines += chunk.count(b"\n")
                last_tail = (last_tail + chunk)[-300:]
    finally:
        done.set()
        sampler.join(5)
    assert lines == ROWS
    assert f'"key":"k{ROWS}"'.encode() in last_tail
    growth_mb = (peak[0] - baseline) / MB
    assert growth_mb < 20, f"RSS grew {growth_mb:.1f} MB during the export"
