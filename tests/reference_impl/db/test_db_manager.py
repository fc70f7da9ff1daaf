"""DatabaseManager against a real Postgres: bounded waits, breaker, retries, commit outcome."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any, TypeVar
from urllib.parse import urlsplit

import asyncpg
import pytest

from harness.provision.postgres import EmbeddedPostgres
from reference_impl.db.config import DbConfig
from reference_impl.db.errors import CommitOutcomeUnknown, DatabaseUnavailable
from reference_impl.db.manager import DatabaseManager
from reference_impl.resilience.breaker import BreakerConfig, CircuitBreaker
from reference_impl.resilience.retry import RetryPolicy

T = TypeVar("T")


def run(factory: Callable[[], Awaitable[T]], timeout: float = 60) -> T:
    """Run one coroutine to completion, bounded, on a fresh loop."""

    async def bounded() -> T:
        return await asyncio.wait_for(factory(), timeout)

    return asyncio.run(bounded())


@asynccontextmanager
async def manager(
    dsn: str, breaker: CircuitBreaker | None = None, **config: Any
) -> AsyncIterator[DatabaseManager]:
    config.setdefault("pool_min", 1)
    db = DatabaseManager(DbConfig(dsn, **config), breaker or CircuitBreaker("db"),
                         RetryPolicy(max_attempts=3, base_s=0.05, cap_s=0.2))
    await db.connect()
    try:
        yield db
    finally:
        await db.close(5.0)


async def _admin(dsn: str) -> asyncpg.Connection:
    return await asyncpg.connect(dsn, timeout=5)


def test_pool_exhausted_is_a_fast_503(fresh_db: str) -> None:
    """Both connections of a pool of two held: the next query fails with pool_exhausted in well
    under 0.5 s (no hang), without counting against the breaker; it works once one is freed."""

    async def scenario() -> None:
        async with manager(fresh_db, pool_max=2) as db:
            async with AsyncExitStack() as held:
                for _ in range(2):
                    await held.enter_async_context(db.connection())
                assert db.pool_stats()["in_use"] == 2
                started = time.monotonic()
                with pytest.raises(DatabaseUnavailable) as info:
                    await db.fetchval("select 1")
                elapsed = time.monotonic() - started
                assert info.value.reason == "pool_exhausted"
                assert elapsed < 0.5, elapsed
                assert info.value.retry_after_s >= 1.0
            assert db.breaker is not None and db.breaker.snapshot()["failures"] == 0
            assert await db.fetchval("select 1") == 1
            assert db.pool_stats()["in_use"] == 0
            assert db.query_stats()["unavailable_by_reason"] == {"pool_exhausted": 1}

    run(scenario)


def test_statement_timeout_answers_in_time_and_keeps_the_connection(fresh_db: str) -> None:
    """A 5 s query is cancelled by the server at statement_timeout (0.8 s): a timeout error
    within 1.5 s, not retried, and the connection stays in the pool (not discarded)."""

    async def scenario() -> None:
        async with manager(fresh_db) as db:
            started = time.monotonic()
            with pytest.raises(DatabaseUnavailable) as info:
                await db.fetchval("select pg_sleep(5)")
            assert info.value.reason == "timeout"
            assert isinstance(info.value.__cause__, asyncpg.QueryCanceledError)
            assert 0.7 < time.monotonic() - started < 1.5
            assert db.metrics.retries == 0
            assert db.discarded == 0
            assert await db.fetchval("select 2") == 2

    run(scenario)


def test_transient_error_is_retried(fresh_db: str) -> None:
    """The backend running a read is terminated mid-query (57P01 / connection lost): the manager
    retries on a fresh connection and the caller gets the result."""

    async def scenario() -> None:
        admin = await _admin(fresh_db)
        try:
            async with manager(fresh_db) as db:

                async def kill_once() -> int:
                    for _ in range(100):
                        pid = await admin.fetchval(
                            "select pid from pg_stat_activity where application_name = "
                            "'reference_impl' and state = 'active' and query like '%pg_sleep%'")
                        if pid:
                            await admin.execute("select pg_terminate_backend($1)", pid)
                            return int(pid)
                        await asyncio.sleep(0.02)
                    raise AssertionError("the query never showed up in pg_stat_activity")

                value, killed = await asyncio.gather(
                    db.fetchval("select 'ok' from pg_sleep(0.4)"), kill_once())
                assert value == "ok" and killed
                assert db.metrics.retries == 1
                errors = db.query_stats()["errors_by_class"]
                assert sum(errors.values()) == 1 and set(errors) <= {"network", "database"}
        finally:
            await admin.close()

    run(scenario)


def test_caller_errors_are_not_retried_nor_held_against_the_database(fresh_db: str) -> None:
    """An undefined column (42703) surfaces as schema_invalid after one attempt; a division by
    zero (22012) surfaces unchanged; neither is retried nor counted by the breaker."""

    async def scenario() -> None:
        async with manager(fresh_db) as db:
            with pytest.raises(DatabaseUnavailable) as info:
                await db.fetchval("select no_such_column from pg_class")
            assert info.value.reason == "schema_invalid"
            with pytest.raises(asyncpg.DivisionByZeroError):
                await db.fetchval("select 1 / 0")
            assert db.metrics.queries == 2 and db.metrics.retries == 0
            assert db.query_stats()["errors_by_sqlstate"] == {"42703": 1, "22012": 1}
            assert db.breaker is not None and db.breaker.snapshot()["failures"] == 0
            assert not db.schema.valid

    run(scenario)


def test_connection_lost_at_commit_is_commit_outcome_unknown(migrated_db: str) -> None:
    """The transaction's backend is terminated before COMMIT: the block raises
    CommitOutcomeUnknown (a DatabaseUnavailable: never ack), and the manager keeps serving."""

    async def scenario() -> None:
        admin = await _admin(migrated_db)
        try:
            async with manager(migrated_db) as db:
                with pytest.raises(CommitOutcomeUnknown) as info:
                    async with db.transaction() as conn:
                        await conn.execute(
                            "insert into messages (room, body, idempotency_key) "
                            "values ('r', 'b', 'k-commit')")
                        await admin.execute("select pg_terminate_backend($1)",
                                            conn.get_server_pid())
                        await asyncio.sleep(0.2)
                assert isinstance(info.value, DatabaseUnavailable)
                assert info.value.reason == "commit_unknown"
                assert await db.fetchval("select count(*) from messages") == 0
                assert db.pool_stats()["in_use"] == 0
        finally:
            await admin.close()

    run(scenario)


def test_max_lifetime_retires_old_connections(fresh_db: str) -> None:
    """With a 50 ms max lifetime, a connection used again after 100 ms is a new backend."""

    async def scenario() -> None:
        async with manager(fresh_db, pool_max=1, max_lifetime_s=0.05) as db:
            first = await db.fetchval("select pg_backend_pid()")
            await asyncio.sleep(0.1)
            await db.fetchval("select 1")  # released after its lifetime: retired
            second = await db.fetchval("select pg_backend_pid()")
            assert first != second
            assert db.retired >= 1

    run(scenario)


def test_unreachable_and_not_connected(fresh_db: str) -> None:
    """Before connect(): not_connected. A DSN nobody listens on: connect() raises unreachable
    quickly, naming the address but not the password."""

    async def scenario() -> None:
        db = DatabaseManager(DbConfig(fresh_db))
        with pytest.raises(DatabaseUnavailable, match="not_connected"):
            await db.fetchval("select 1")
        nowhere = DatabaseManager(DbConfig("postgresql://app:secret@127.0.0.1:1/x"))
        started = time.monotonic()
        with pytest.raises(DatabaseUnavailable) as info:
            await nowhere.connect()
        assert info.value.reason == "unreachable"
        assert "127.0.0.1:1" in str(info.value) and "secret" not in str(info.value)
        assert time.monotonic() - started < 3.0

    run(scenario)


def test_close_is_bounded_then_terminates(fresh_db: str) -> None:
    """close() with a connection still held gives up after its timeout and terminates."""

    async def scenario() -> None:
        db = DatabaseManager(DbConfig(fresh_db, pool_min=1))
        await db.connect()
        release = asyncio.Event()

        async def hold() -> None:
            async with db.connection():
                await release.wait()

        holder = asyncio.create_task(hold())
        await asyncio.sleep(0.05)
        started = time.monotonic()
        assert await db.close(timeout_s=0.3) is False
        assert time.monotonic() - started < 1.5
        release.set()
        await asyncio.wait_for(holder, 5)
        assert not db.connected

    run(scenario)


def test_health_check_and_stats(fresh_db: str) -> None:
    """health_check answers ok with latency and pool figures; stats carry the histogram."""

    async def scenario() -> None:
        async with manager(fresh_db) as db:
            health = await db.health_check()
            assert health["ok"] and health["error"] is None and health["breaker"] == "closed"
            pool = health["pool"]
            assert {"size", "in_use", "idle", "waiting", "max"} <= pool.keys()
            assert pool["acquire_p99_ms"] is not None
            for _ in range(5):
                await db.fetchval("select 1")
            stats = db.query_stats()
            latency = stats["latency_ms"]
            assert latency["count"] == 5 and latency["buckets"]["le_inf"] == 5

    run(scenario)


def test_probe_bypasses_the_breaker_and_never_queues_for_a_slot(fresh_db: str) -> None:
    """The health monitor's probe: ``select 1`` that the breaker neither admits nor hears and
    the query metrics do not count; with every connection held it gives up at once
    (pool_exhausted, no wait); it still answers while the breaker is open."""
    breaker = CircuitBreaker("db", BreakerConfig(min_calls=1, open_s=30.0, max_open_s=30.0))

    async def scenario() -> None:
        async with manager(fresh_db, breaker, pool_max=2) as db:
            await db.probe(0.5)
            assert breaker.snapshot()["calls"] == 0
            assert db.query_stats()["latency_ms"]["count"] == 0
            assert db.pool_stats()["in_use"] == 0
            async with AsyncExitStack() as held:
                for _ in range(2):
                    await held.enter_async_context(db.connection())
                started = time.monotonic()
                with pytest.raises(DatabaseUnavailable) as info:
                    await db.probe(0.5)
                assert info.value.reason == "pool_exhausted"
                assert time.monotonic() - started < 0.05
                assert db.pool_stats()["in_use"] == 2
            for _ in range(3):  # the two held sessions counted as successes
                breaker.record_failure()
            assert breaker.state.value == "open"
            await db.probe(0.5)
            assert db.pool_stats()["in_use"] == 0 and db.discarded == 0
        with pytest.raises(DatabaseUnavailable, match="not open"):
            await db.probe(0.5)

    run(scenario)


def test_breaker_opens_when_postgres_stops_and_recovers(own_pg: EmbeddedPostgres) -> None:
    """Postgres stopped: queries fail as unreachable until the breaker opens, then are refused
    at once (breaker_open); after Postgres starts again the manager serves within ~2 s."""
    breaker = CircuitBreaker("db", BreakerConfig(min_calls=4, open_s=0.5, max_open_s=1.0,
                                                 half_open_probes=1))

    async def scenario() -> float:
        async with manager(own_pg.dsn, breaker, pool_max=4) as db:
            assert await db.fetchval("select 1") == 1
            own_pg.stop("fast")
            try:
                reasons = []
                for _ in range(20):
                    with pytest.raises(DatabaseUnavailable) as info:
                        await db.fetchval("select 1")
                    reasons.append(info.value.reason)
                    if info.value.reason == "breaker_open":
                        break
                assert reasons[0] == "unreachable" and reasons[-1] == "breaker_open", reasons
                started = time.monotonic()
                with pytest.raises(DatabaseUnavailable, match="breaker_open"):
                    await db.fetchval("select 1")
                assert time.monotonic() - started < 0.05
            finally:
                own_pg.start()
            back = time.monotonic()
            while True:
                try:
                    assert await db.fetchval("select 1") == 1
                    break
                except DatabaseUnavailable:
                    assert time.monotonic() - back < 10, "no recovery within 10 s"
                    await asyncio.sleep(0.05)
            assert breaker.state.value == "closed"
            return time.monotonic() - back

    recovery = run(scenario)
    assert recovery < 2.0, recovery


def test_frozen_server_times_out_at_the_command_timeout(own_pg: EmbeddedPostgres) -> None:
    """Postgres SIGSTOPped (statement_timeout cannot fire): the client-side command timeout
    answers within ~1 s, and the stuck connection is discarded rather than reset."""

    async def scenario() -> float:
        async with manager(own_pg.dsn, pool_max=2) as db:
            assert await db.fetchval("select 1") == 1
            own_pg.freeze()
            try:
                started = time.monotonic()
                with pytest.raises(DatabaseUnavailable) as info:
                    await db.fetchval("select 1")
                elapsed = time.monotonic() - started
                assert info.value.reason == "timeout"
                assert db.discarded == 1
            finally:
                own_pg.thaw()
            assert await db.fetchval("select 1") == 1
            return elapsed

    elapsed = run(scenario)
    assert 0.9 < elapsed < 2.0, elapsed


def test_too_many_clients_is_a_fast_503_and_recovers(fresh_db: str) -> None:
    """The database refuses new connections (53300, its connection limit held from outside):
    connect() and a query needing a new connection fail fast as too_many_connections; once
    the outside connections go, the manager serves again."""
    role = f"app_{abs(hash(fresh_db)) % 100000}"
    server, database = fresh_db.rsplit("/", 1)
    as_app = fresh_db.replace("//postgres:", f"//{role}:", 1)
    password = urlsplit(fresh_db).password  # the embedded server trusts nobody

    async def scenario() -> None:
        admin = await _admin(f"{server}/postgres")  # not counted against the database's limit
        outside: list[asyncpg.Connection] = []
        try:
            await admin.execute(f'create role "{role}" login password \'{password}\'')
            await admin.execute(f'alter database "{database}" connection limit 2')
            outside += [await asyncpg.connect(as_app) for _ in range(2)]
            with pytest.raises(DatabaseUnavailable) as info:
                await DatabaseManager(DbConfig(as_app, pool_min=1)).connect()
            assert info.value.reason == "too_many_connections"
            await outside.pop().close()
            async with manager(as_app, pool_max=2) as db:
                async with db.connection():  # takes the one free slot
                    started = time.monotonic()
                    with pytest.raises(DatabaseUnavailable) as info:
                        await db.fetchval("select 1")
                    assert info.value.reason == "too_many_connections"
                    assert time.monotonic() - started < 1.0
                await outside.pop().close()
                assert await db.fetchval("select 1") == 1
        finally:
            for conn in outside:
                await conn.close()
            await admin.execute(f'drop database "{database}" with (force)')
            await admin.execute(f'drop role if exists "{role}"')
            await admin.close()

    run(scenario)


def test_release_rolls_back_an_open_transaction(fresh_db: str) -> None:
    """The pool skips asyncpg's reset query, so the one guarantee left must hold: a connection
    given back inside a transaction (a block that began one and failed) comes back out of it,
    with its write rolled back, and the next user of that connection starts clean."""

    async def scenario() -> None:
        async with manager(fresh_db, pool_min=1, pool_max=1) as db:
            await db.execute("create table released (n int)")
            with pytest.raises(RuntimeError, match="boom"):
                async with db.connection() as conn:
                    await conn.execute("begin")
                    await conn.execute("insert into released values (1)")
                    pid = await conn.fetchval("select pg_backend_pid()")
                    raise RuntimeError("boom")
            async with db.connection() as conn:
                assert await conn.fetchval("select pg_backend_pid()") == pid  # the same one
                assert not conn.is_in_transaction()
                assert await conn.fetchval("select count(*) from released") == 0

    run(scenario)
