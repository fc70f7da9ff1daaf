"""Throughput and latency of the reference app: resilient profile vs a bare asyncpg handler.

Three servers, each FastAPI under uvicorn in its own process, on the same embedded
Postgres (fsync off: we measure the app, not the disk), with the same SQL (the keyed
insert; the keyset page) and the same request handling (body models, the key read
from the raw headers). The bare ones
(``python benchmarks/app.py --bare-server [--no-reset] --dsn URL``) call the asyncpg
pool directly: no breaker, no retries, no gate, no deadline, no metrics, no request
ids. The first bare pool is asyncpg's default, as day-one code has it; the second
skips asyncpg's reset query at release as the resilient pool does, so the ratio to it
is the cost of the resilience stack alone.

Load: 50 keep-alive connections from a small raw HTTP/1.1 client (asyncio, in
this process). The machine is shared, so each operation is measured in ``ROUNDS``
rounds of the three servers in turn (1 s warm-up + 4 s measured each) and the
rounds are pooled: drift hits every server alike. Goals (issue 6): resilient/bare
>= 0.85 in requests/s; p99 < 100 ms. With a closed loop of 50 connections at
saturation, latency is mostly queueing (Little's law: 50 / throughput), so p99
says more about the machine than about the stack.

``measure()`` gives the database/health/bootstrap figures of benchmarks/stack.py
(health check, query through the database manager with a warm pool, bootstrap
of the app process to ready).

    .venv/bin/python benchmarks/app.py
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import itertools
import os
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Request  # module level: FastAPI resolves annotations by name
from pydantic import BaseModel

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SECTION = "Reference app (benchmarks/app.py)"
CONNECTIONS = 50
WARMUP_S = 1.0
MEASURE_S = 4.0
ROUNDS = 3
HISTORY_ROWS = 1000
PAGE = 50
ROOT = Path(__file__).resolve().parents[1]
LISTENING = "listening on http://"

# -- the bare server ------------------------------------------------------------------------

_INSERT = ("insert into messages (room, session_id, body, idempotency_key, request_hash) "
           "values ($1, $2, $3, $4, $5) on conflict (idempotency_key) do nothing "
           "returning id, idempotency_key, room, created_at")
_BY_KEY = "select id, idempotency_key, room, created_at from messages where idempotency_key = $1"
_PAGE = ("select id, room, session_id, body, idempotency_key, created_at from messages "
         "where room = $1 and id > $2 order by id limit $3")


class PostMessage(BaseModel):
    """The same body model as the app's (module level: FastAPI resolves it by name)."""

    session_id: str
    text: str


async def _no_reset(conn: Any) -> None:
    """The resilient pool's reset (asyncpg still rolls back an open transaction)."""


def bare_app(dsn: str, reset: bool = True) -> Any:
    """A FastAPI app with the two benchmarked routes, straight on an asyncpg pool (with
    asyncpg's default reset query at release, or, ``reset=False``, without it as the app)."""
    import asyncpg
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse

    from reference_impl.app.store import request_hash

    state: dict[str, asyncpg.Pool] = {}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        state["pool"] = await asyncpg.create_pool(dsn, min_size=2, max_size=10,
                                                  reset=None if reset else _no_reset)
        yield
        await state["pool"].close()

    app = FastAPI(lifespan=lifespan)

    @app.post("/api/rooms/{room}/messages", status_code=201)
    async def post(room: str, body: PostMessage, request: Request) -> JSONResponse:
        idempotency_key = request.headers["idempotency-key"]  # read as the app reads it
        digest = request_hash(room, body.session_id, body.text)
        pool = state["pool"]  # one autocommit statement, read back on a conflict, as the app
        row = await pool.fetchrow(_INSERT, room, body.session_id, body.text, idempotency_key,
                                  digest)
        created = row is not None
        if row is None:
            row = await pool.fetchrow(_BY_KEY, idempotency_key)
        ack = {"id": row["id"], "key": row["idempotency_key"], "room": row["room"],
               "created_at": row["created_at"].isoformat()}
        return JSONResponse(ack, status_code=201 if created else 200)

    @app.get("/api/rooms/{room}/messages")
    async def history(room: str, after_id: int = 0, limit: int = 100) -> dict[str, Any]:
        rows = await state["pool"].fetch(_PAGE, room, after_id, limit)
        messages = [{"id": r["id"], "room": r["room"], "session_id": r["session_id"],
                     "text": r["body"], "key": r["idempotency_key"],
                     "created_at": r["created_at"].isoformat()} for r in rows]
        return {"room": room, "messages": messages,
                "next_after_id": messages[-1]["id"] if len(messages) == limit else None}

    return app


def run_bare_server(dsn: str, reset: bool = True) -> int:
    """Serve ``bare_app`` on a free port; print the URL once listening."""
    import uvicorn

    from reference_impl.app.server import bind_socket

    sock = bind_socket("127.0.0.1", 0)
    config = uvicorn.Config(bare_app(dsn, reset), lifespan="on", log_config=None, access_log=False,
                            loop="auto", log_level="warning")

    class Server(uvicorn.Server):
        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets)
            print(f"listening on http://127.0.0.1:{sock.getsockname()[1]}", flush=True)

    Server(config).run(sockets=[sock])
    return 0


# -- the load client ------------------------------------------------------------------------


@dataclass
class LoadResult:
    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float]
    server_cpu_s: float = 0.0  # the server process's CPU time in the measured window

    @property
    def cpu_us_per_request(self) -> float:
        return self.server_cpu_s / max(1, self.requests) * 1e6

    @property
    def rps(self) -> float:
        """Successful (2xx) responses per second: shed requests are not throughput."""
        return (self.requests - self.errors) / self.seconds

    def add(self, other: LoadResult) -> None:
        self.requests += other.requests
        self.errors += other.errors
        self.seconds += other.seconds
        self.latencies_ms += other.latencies_ms
        self.server_cpu_s += other.server_cpu_s

    def pct(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, max(0, int(q / 100 * len(ordered) + 0.5) - 1))]


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    request: bytes) -> int:
    """Send one request on a keep-alive connection; read the whole response; its status."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    await reader.readexactly(length)
    return status


async def _worker(host: str, port: int, make: Callable[[int, int], bytes], n: int,
                  windows: tuple[float, float], out: LoadResult) -> None:
    start_measure, stop_at = windows
    reader, writer = await asyncio.open_connection(host, port)
    try:
        for i in itertools.count():
            now = time.perf_counter()
            if now >= stop_at:
                return
            status = await _exchange(reader, writer, make(n, i))
            if now >= start_measure:
                out.latencies_ms.append((time.perf_counter() - now) * 1000)
                out.requests += 1
                out.errors += not 200 <= status < 300
    finally:
        writer.close()


def _cpu_s(pid: int) -> float:
    import psutil

    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


async def _load(url: str, make: Callable[[int, int], bytes], server_pid: int) -> LoadResult:
    host, port = url.removeprefix("http://").split(":")
    start = time.perf_counter()
    windows = (start + WARMUP_S, start + WARMUP_S + MEASURE_S)
    out = LoadResult(0, 0, MEASURE_S, [])
    cpu: list[float] = []
    loop = asyncio.get_running_loop()
    loop.call_later(WARMUP_S, lambda: cpu.append(_cpu_s(server_pid)))
    await asyncio.gather(*(_worker(host, int(port), make, n, windows, out)
                           for n in range(CONNECTIONS)))
    out.server_cpu_s = _cpu_s(server_pid) - cpu[0]  # the last responses end the window
    return out


def post_request(tag: str, session_id: str) -> Callable[[int, int], bytes]:
    def make(conn: int, i: int) -> bytes:
        body = f'{{"session_id":"{session_id}","text":"message {conn}-{i}"}}'.encode()
        return (f"POST /api/rooms/bench/messages HTTP/1.1\r\nHost: b\r\n"
                f"Content-Type: application/json\r\nIdempotency-Key: {tag}-{conn}-{i}\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    return make


def history_request(conn: int, i: int) -> bytes:
    after = (conn * 37 + i * 11) % (HISTORY_ROWS - PAGE)
    return (f"GET /api/rooms/hist/messages?after_id={after}&limit={PAGE} HTTP/1.1\r\n"
            "Host: b\r\n\r\n").encode()


# -- orchestration ----------------------------------------------------------------------------


def _spawn(sup: Any, name: str, argv: list[str], env: dict[str, str]) -> tuple[Any, str]:
    from harness.provision.ready import wait_until

    child = sup.spawn(name, argv, env=env, cwd=ROOT)
    found: list[str] = []

    def listening() -> bool:
        text = child.log_path.read_text(errors="replace")
        if LISTENING in text:
            found.append("http://" + text.split(LISTENING, 1)[1].split()[0])
        return bool(found)

    wait_until(listening, 60, what=name, on_timeout=child.log_tail)
    return child, found[0]


def _env(dsn: str) -> dict[str, str]:
    """The app's environment: the gate admits the pool's 10 and lets the other 40 of the 50
    connections wait (bounded by the 2 s deadline), as the bare pool's acquire queue does
    (set explicitly: it is also the default, 4x the gate, so a change there cannot move it)."""
    return {**os.environ, "PYTHONPATH": str(ROOT), "DATABASE_URL": dsn,
            "REFERENCE_IMPL_LOG_LEVEL": "warning",
            "REFERENCE_IMPL_GATE_QUEUE": str(CONNECTIONS - 10)}


def _prepare(pg: Any) -> list[str]:
    """Three migrated databases, each with HISTORY_ROWS messages in room 'hist'."""
    from harness.provision.pg_probe import execute, run_sync
    from reference_impl.db.migrate import migrate_up

    dsns = []
    for name in ("bench_resilient", "bench_bare", "bench_bare_noreset"):
        execute(pg.dsn, f"create database {name}")
        dsn = pg.dsn_for(name)
        run_sync(functools.partial(migrate_up, dsn), timeout=60)
        execute(dsn, "insert into messages (room, session_id, body, idempotency_key) "
                     "select 'hist', 's', 'history ' || g, 'h' || g "
                     f"from generate_series(1, {HISTORY_ROWS}) g")
        dsns.append(dsn)
    return dsns


def _line(op: str, bare: LoadResult, same: LoadResult, res: LoadResult) -> str:
    ratio, ratio_same = res.rps / bare.rps, res.rps / same.rps
    return (f"- {op}: resilient **{res.rps:.0f} req/s**, p50 {res.pct(50):.1f} ms, "
            f"p99 {res.pct(99):.1f} ms ({res.errors} non-2xx) | bare {bare.rps:.0f} req/s, "
            f"p50 {bare.pct(50):.1f} ms, p99 {bare.pct(99):.1f} ms ({bare.errors} non-2xx) | "
            f"ratio **{ratio:.2f}** "
            f"(goal >= 0.85: {'met' if ratio >= 0.85 else 'NOT met'}; p99 < 100 ms: "
            f"{'met' if res.pct(99) < 100 else 'NOT met'}) | bare without the reset query "
            f"{same.rps:.0f} req/s, ratio {ratio_same:.2f} (the stack alone) | server CPU per "
            f"request: resilient {res.cpu_us_per_request:.0f} us, bare "
            f"{bare.cpu_us_per_request:.0f} us, bare without the reset query "
            f"{same.cpu_us_per_request:.0f} us (the stack alone: "
            f"+{res.cpu_us_per_request - same.cpu_us_per_request:.0f} us)")


def compare() -> list[str]:
    """Run the three servers and the load; return the RESULTS.md lines."""
    from harness.provision.postgres import EmbeddedPostgres
    from harness.provision.process import Supervisor

    with tempfile.TemporaryDirectory() as tmp, \
            EmbeddedPostgres(log_dir=Path(tmp), fsync=False, max_connections=100) as pg, \
            Supervisor(Path(tmp) / "logs") as sup:
        res_dsn, bare_dsn, same_dsn = _prepare(pg)
        py, me = sys.executable, str(Path(__file__).resolve())
        servers = [  # (name, child, url), in the order each round runs them
            ("bare", *_spawn(sup, "bare", [py, me, "--bare-server", "--dsn", bare_dsn],
                             _env(bare_dsn))),
            ("same", *_spawn(sup, "bare-noreset", [py, me, "--bare-server", "--no-reset",
                                                   "--dsn", same_dsn], _env(same_dsn))),
            ("resilient", *_spawn(sup, "resilient", [py, "-m", "reference_impl", "serve",
                                                     "--port", "0"], _env(res_dsn))),
        ]
        import httpx

        from harness.provision.ready import wait_until
        res_url = servers[-1][2]
        wait_until(lambda: httpx.get(res_url + "/health/ready").status_code == 200, 60,
                   what="resilient ready")
        session = "bench-session"
        results = {}
        for op, writes in (("post_message", True), ("read_history", False)):
            totals = {name: LoadResult(0, 0, 0.0, []) for name, _, _ in servers}
            for n in range(ROUNDS):
                for name, child, url in servers:
                    make = post_request(f"{name}{n}", session) if writes else history_request
                    totals[name].add(asyncio.run(_load(url, make, child.pid)))
            results[op] = totals
    lines = [f"- {CONNECTIONS} keep-alive connections; {ROUNDS} rounds of the three servers in "
             f"turn, {WARMUP_S:.0f} s warm-up + {MEASURE_S:.0f} s measured each, pooled; client "
             "in-process on the same 2 cores (shared with other work); "
             f"req/s counts 2xx only; resilient gate 10 + queue {CONNECTIONS - 10} "
             f"(REFERENCE_IMPL_GATE_QUEUE); the same SQL everywhere (the keyed insert as one "
             "autocommit statement, read back on a conflict; the keyset page)"]
    lines += [_line(op, t["bare"], t["same"], t["resilient"]) for op, t in results.items()]
    lines.append(
        "- the resilient pool skips asyncpg's reset query at release (unlock all, close all, "
        "unlisten, reset all: the app keeps no session state), one Postgres round trip fewer "
        "per request; the plain bare pool runs it, the second bare server does not, so its "
        "ratio is the cost of the stack alone")
    lines.append(
        "- where the stack's cost went (an in-process A/B of the two apps in interleaved "
        "batches, features switched off one at a time, cProfile call counts and py-spy): "
        "a timer per request for the deadline (now one shared timer for all requests, "
        "reference_impl/app/deadlines.py); asyncio.Semaphore and a coroutine to take a free "
        "gate slot (now a synchronous check); os.urandom per request id; "
        "prometheus-client's locked inc/observe per request (now plain counters turned into "
        "families at scrape time); FastAPI matching every request again inside each "
        "included router (routers now mounted flat); the optional Idempotency-Key "
        "parameter, which FastAPI re-inspects per request (now read from the raw headers, "
        "by the bare server too); and coroutine frames, each resumed again at every await "
        "of the handler (the middleware is now one coroutine, the manager's statement "
        "helpers hand back the coroutine, and the retry loop is entered only after a "
        "failure). Earlier fixes: the keyed insert ran as BEGIN/INSERT/COMMIT (now one "
        "autocommit statement: its completion is the commit, and the key makes a retry "
        "safe); the history page copied every row into a dict before shaping it; a timer "
        "per acquire when a connection was free; uvicorn fell back to h11 (pure Python, "
        "~0.45 ms a request) until httptools became a dependency; hot routes solved "
        "Depends; wait_for added a task per acquire and per queued request; sync "
        "dependencies ran in a worker thread")
    return lines


def measure() -> list[str]:
    """The stack.py hook: health check, warm-pool query, bootstrap to ready (medians)."""
    from harness.provision.postgres import EmbeddedPostgres
    from harness.provision.process import Supervisor

    with tempfile.TemporaryDirectory() as tmp, \
            EmbeddedPostgres(log_dir=Path(tmp), fsync=False) as pg, \
            Supervisor(Path(tmp) / "logs") as sup:
        health_ms, query_ms = asyncio.run(_manager_figures(pg.dsn))
        boot = [_bootstrap_s(sup, pg.dsn, i) for i in range(5)]
    med = statistics.median(boot)
    return [
        f"- health check (`DatabaseManager.health_check`, select 1 through the breaker): "
        f"**{health_ms:.2f} ms** median; claim < 50 ms: {'met' if health_ms < 50 else 'NOT met'}",
        f"- query through the database manager, warm pool (`fetchval('select 1')`): "
        f"**{query_ms:.2f} ms** median; claim < 10 ms: {'met' if query_ms < 10 else 'NOT met'}",
        f"- bootstrap to ready (spawn `python -m reference_impl serve` -> /health/ready 200, "
        f"schema current), median of 5: **{med:.2f} s** (min {min(boot):.2f}); claim 2-5 s, "
        f"goal < 1.5 s: {'met' if med < 1.5 else 'NOT met'}",
    ]


async def _manager_figures(dsn: str) -> tuple[float, float]:
    from reference_impl.db.config import DbConfig
    from reference_impl.db.manager import DatabaseManager
    from reference_impl.resilience import CircuitBreaker

    db = DatabaseManager(DbConfig(dsn=dsn), breaker=CircuitBreaker("database"))
    await db.connect()
    try:
        for _ in range(50):
            await db.fetchval("select 1")
        health, query = [], []
        for _ in range(500):
            started = time.perf_counter()
            await db.health_check()
            health.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            await db.fetchval("select 1")
            query.append((time.perf_counter() - started) * 1000)
        return statistics.median(health), statistics.median(query)
    finally:
        await db.close()


def _bootstrap_s(sup: Any, dsn: str, n: int) -> float:
    import httpx

    from harness.provision.ready import wait_until

    started = time.monotonic()
    child, url = _spawn(sup, f"boot-{n}", [sys.executable, "-m", "reference_impl", "serve",
                                           "--port", "0"], _env(dsn))
    wait_until(lambda: httpx.get(url + "/health/ready").status_code == 200, 60,
               what="ready", interval=0.01)
    elapsed = time.monotonic() - started
    sup.stop(child)
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bare-server", action="store_true", help="serve the bare app")
    parser.add_argument("--dsn", help="database URL for --bare-server")
    parser.add_argument("--no-reset", action="store_true",
                        help="--bare-server without asyncpg's reset query, as the app's pool")
    args = parser.parse_args(argv)
    if args.bare_server:
        return run_bare_server(args.dsn, reset=not args.no_reset)
    from benchmarks._results import record_section

    lines = compare()
    lines += ["", "Database, health and bootstrap figures (also reported by benchmarks/stack.py "
              "through its `benchmarks.stack_app` hook):", "", *measure()]
    print("\n".join(lines))
    record_section(SECTION, lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
