"""Postgres behind the embedded proxy, driven by asyncpg (the reference app's driver)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import asyncpg
import pytest
from toxiproxy_helpers import api_client

from harness.provision.postgres import EmbeddedPostgres


async def _query_rtt(dsn: str, rounds: int = 5) -> float:
    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        await conn.fetchval("select 1")
        samples = []
        for _ in range(rounds):
            start = time.monotonic()
            assert await conn.fetchval("select 1") == 1
            samples.append(time.monotonic() - start)
        return sorted(samples)[len(samples) // 2]
    finally:
        await conn.close(timeout=5)


def test_postgres_through_proxy(embedded_server: Any, postgres: EmbeddedPostgres) -> None:
    """Latency adds the requested delay to a query round trip; disabling the proxy makes asyncpg
    raise a connection error (the open connection is cut and new ones are refused); enabling it
    lets a new connection through."""
    with api_client(embedded_server.url) as api:
        reply = api.post("/proxies", json={"name": "pg", "upstream": f"{postgres.host}:{postgres.port}"})
        assert reply.status_code == 201, reply.text
        host, port = reply.json()["listen"].rsplit(":", 1)
        dsn = f"postgresql://postgres:{postgres.password}@{host}:{port}/postgres"
        try:
            base = asyncio.run(_query_rtt(dsn))
            api.post("/proxies/pg/toxics", json={"type": "latency", "attributes": {"latency": 50}})
            delayed = asyncio.run(_query_rtt(dsn))
            assert 0.050 <= delayed - base + 0.002 and delayed <= base + 0.050 + 0.040
            asyncio.run(_cut_then_refused(api, dsn))
            api.post("/proxies/pg", json={"enabled": True})
            assert asyncio.run(_query_rtt(dsn, rounds=1)) > 0
        finally:
            api.delete("/proxies/pg")


async def _cut_then_refused(api: Any, dsn: str) -> None:
    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        await asyncio.to_thread(api.post, "/proxies/pg", json={"enabled": False})
        with pytest.raises((asyncpg.exceptions.ConnectionDoesNotExistError,
                            asyncpg.exceptions.InterfaceError, ConnectionError, OSError)):
            await asyncio.wait_for(conn.fetchval("select 1"), 5)
    finally:
        conn.terminate()
    with pytest.raises(OSError):
        await asyncpg.connect(dsn, timeout=5)
