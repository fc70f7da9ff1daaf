"""The service's Postgres connections are counted by where they come from: the real embedded
proxy (started the way a run starts it) in front of the session's embedded Postgres, real
asyncpg connections through it and straight to Postgres, and the real sampler."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from harness.observe import Observer, ObserveTargets
from harness.observe.pg_activity import PgActivitySampler
from harness.observe.proxy_conns import (
    normalize_addr,
    proxy_sockets_getter,
    proxy_upstream_sockets,
    split_hostport,
)
from harness.provision.postgres import EmbeddedPostgres
from harness.provision.process import Supervisor
from harness.provision.proxy import RunningProxy, start_proxy

N_PROXIED, M_DIRECT = 3, 2


@pytest.fixture
def proxy(supervisor: Supervisor) -> Iterator[RunningProxy]:
    running = start_proxy(supervisor, "embedded")
    yield running
    if running.child is not None:
        supervisor.stop(running.child)


def _through(proxy: RunningProxy, postgres: EmbeddedPostgres) -> str:
    """A DSN to the session's Postgres through a new proxy link."""
    created = proxy.client.create_proxy("pg", upstream=f"{postgres.host}:{postgres.port}")
    host, port = split_hostport(created["listen"])
    return f"postgresql://{postgres.user}:{postgres.password}@{host}:{port}/postgres?sslmode=disable"


async def _open(dsn: str, n: int, name: str) -> list[asyncpg.Connection]:
    return [await asyncpg.connect(dsn, timeout=10.0, server_settings={"application_name": name})
            for _ in range(n)]


async def _sample_until(sampler: PgActivitySampler, want: int | None,
                        timeout_s: float = 10.0) -> dict[str, Any]:
    """Sample until ``app`` is ``want`` (a closed connection's backend exits a moment later)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        got = await sampler.sample()
        if got["app"] == want or loop.time() > deadline:
            return got
        await asyncio.sleep(0.1)


def test_app_connections_are_the_ones_through_the_proxy(
    proxy: RunningProxy, postgres: EmbeddedPostgres
) -> None:
    """3 connections through the proxy (named anything) and 2 straight to Postgres (named
    like the app): the app holds exactly 3, counted by the proxy's sockets; closing one
    leaves 2. The name plays no part while the proxy's pid is known."""
    assert proxy.pid is not None and proxy.pid != os.getpid()
    dsn = _through(proxy, postgres)
    upstream = f"{postgres.host}:{postgres.port}"

    async def main() -> None:
        proxied = await _open(dsn, N_PROXIED, "whatever-the-service-calls-itself")
        direct = await _open(postgres.dsn, M_DIRECT, "reference_impl")
        sampler = PgActivitySampler(postgres.dsn, "reference_impl", timeout_s=2.0,
                                    client_sockets=proxy_sockets_getter(lambda: proxy.pid,
                                                                        upstream))
        try:
            got = await sampler.sample()
            assert got["app"] == N_PROXIED and got["app_by"] == "proxy", got
            assert got["by_application"]["reference_impl"] == M_DIRECT
            assert got["total"] >= N_PROXIED + M_DIRECT
            await proxied.pop().close()
            got = await _sample_until(sampler, N_PROXIED - 1)
            assert got["app"] == N_PROXIED - 1 and got["app_by"] == "proxy", got
        finally:
            await sampler.close()
            for conn in proxied + direct:
                await conn.close()

    asyncio.run(main())


def test_proxy_sockets_are_the_backends_client_ends(
    proxy: RunningProxy, postgres: EmbeddedPostgres
) -> None:
    """psutil's view of the proxy's upstream sockets is exactly the (client_addr, client_port)
    of the backends the proxied connections got; the proxy's listening and client-side
    sockets are not among them."""
    assert proxy.pid is not None
    dsn = _through(proxy, postgres)

    async def main() -> None:
        proxied = await _open(dsn, N_PROXIED, "x")
        try:
            pids = [conn.get_server_pid() for conn in proxied]
            async with asyncpg.create_pool(postgres.dsn, min_size=1, max_size=1) as pool:
                rows = await pool.fetch("select host(client_addr) as a, client_port as p "
                                        "from pg_stat_activity where pid = any($1::int[])", pids)
            backends = {(normalize_addr(r["a"]), r["p"]) for r in rows}
            found = proxy_upstream_sockets(proxy.pid, f"{postgres.host}:{postgres.port}")
            assert found == backends and len(found) == N_PROXIED
        finally:
            for conn in proxied:
                await conn.close()

    asyncio.run(main())


def test_no_proxy_pid_falls_back_to_application_name_else_null(
    proxy: RunningProxy, postgres: EmbeddedPostgres
) -> None:
    """A proxy reached by URL has no pid: then only a matching application_name counts (and
    says so), and with no match ``app`` is null, never 0. A known pid whose process cannot
    be read is unknown too (null), not a guess by name."""
    dsn = _through(proxy, postgres)
    upstream = f"{postgres.host}:{postgres.port}"
    by_url = RunningProxy("url", proxy.url, proxy.client)
    assert by_url.pid is None

    async def main() -> None:
        proxied = await _open(dsn, N_PROXIED, "svc")
        direct = await _open(postgres.dsn, M_DIRECT, "reference_impl")
        no_pid = proxy_sockets_getter(lambda: by_url.pid, upstream)
        samplers = {
            "no match": PgActivitySampler(postgres.dsn, "no-such-name", timeout_s=2.0,
                                          client_sockets=no_pid),
            "no callable": PgActivitySampler(postgres.dsn, "no-such-name", timeout_s=2.0),
            "fallback": PgActivitySampler(postgres.dsn, "svc", timeout_s=2.0,
                                          client_sockets=no_pid),
            "gone": PgActivitySampler(postgres.dsn, "svc", timeout_s=2.0,
                                      client_sockets=proxy_sockets_getter(lambda: 2**22 + 1,
                                                                          upstream)),
        }
        try:
            got = {name: await s.sample() for name, s in samplers.items()}
        finally:
            for s in samplers.values():
                await s.close()
            for conn in proxied + direct:
                await conn.close()
        for name in ("no match", "no callable", "gone"):
            assert got[name]["app"] is None and got[name]["app_by"] is None, (name, got[name])
            assert got[name]["total"] >= N_PROXIED + M_DIRECT
        assert got["fallback"]["app"] == N_PROXIED
        assert got["fallback"]["app_by"] == "application_name"

    asyncio.run(main())


def test_observer_wired_with_the_proxy_pid_writes_app_counted_by_proxy(
    proxy: RunningProxy, postgres: EmbeddedPostgres, tmp_path: Path
) -> None:
    """ObserveTargets with proxy_pid/proxy_upstream (as harness.run wires them): every
    complete sample of samples.jsonl says the app holds the 3 proxied connections, counted
    by the proxy, although 2 direct ones carry the app's name."""
    dsn = _through(proxy, postgres)
    with socket.socket() as s:  # nothing listens there: the app's HTTP fields are just down
        s.bind(("127.0.0.1", 0))
        dead_url = f"http://127.0.0.1:{s.getsockname()[1]}"
    targets = ObserveTargets(
        app_url=dead_url, app_pid=lambda: None, pg_pid=lambda: postgres.pid,
        pg_dsn=postgres.dsn, admin_token=None, app_log=lambda: None, chaos_hooks=False,
        proxy_pid=lambda: proxy.pid, proxy_upstream=f"{postgres.host}:{postgres.port}",
    )

    async def hold(seconds: float) -> None:
        proxied = await _open(dsn, N_PROXIED, "svc")
        direct = await _open(postgres.dsn, M_DIRECT, targets.app_name)
        await asyncio.sleep(seconds)
        for conn in proxied + direct:
            await conn.close()

    run_dir = tmp_path / "run"
    observer = Observer(run_dir, targets, t0_monotonic=time.monotonic() + 0.5, tick_s=0.25)
    observer.start()
    try:
        asyncio.run(hold(1.5))
    finally:
        assert observer.stop(timeout_s=5.0)
    assert observer.error is None
    samples = [json.loads(line) for line in (run_dir / "samples.jsonl").read_text().splitlines()]
    counted = [s["pg_connections"] for s in samples if s["pg_connections"] is not None
               and s["pg_connections"]["app"] == N_PROXIED]
    assert len(counted) >= 3, [s["pg_connections"] for s in samples]
    assert all(c["app_by"] == "proxy" for c in counted)
    assert all(s["pg_connections"]["app_by"] == "proxy" for s in samples
               if s["pg_connections"] is not None and s["pg_connections"]["app"] is not None)
