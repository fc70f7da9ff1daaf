"""The resilient profile's database access: the one asyncpg pool behind a breaker and retries.

What it adds to a bare pool, and why (CONVENTIONS.md "Resilience defaults"):

- every wait is bounded: connect 2 s, acquire 200 ms when every connection is
  busy (then :class:`DatabaseUnavailable` ``pool_exhausted`` -> 503 +
  Retry-After, shed rather than queue), command timeout 1 s with the server's
  ``statement_timeout`` 800 ms below it, release and close bounded;
- a circuit breaker admits each operation and hears its outcome, judged by
  ``classify_db_error`` (connection errors, timeouts, 08/53/57 count; caller
  mistakes such as 42xxx/23xxx do not);
- reads are retried for transient failures only (``retry_call`` with the
  request deadline, a retry budget, never while the breaker is open); writes
  pass ``retry=False`` unless a key makes them safe to repeat;
- a connection lost while COMMIT is in flight raises
  :class:`CommitOutcomeUnknown`, so the route never acknowledges a write whose
  fate is unknown;
- an undefined-column error (42703) marks the schema invalid (readiness 503)
  and triggers revalidation;
- connections that hit a network error or a client-side timeout are discarded,
  not reset (a frozen server would hang the reset); connections older than
  ``max_lifetime_s`` are retired at release; release rolls back an open
  transaction and skips asyncpg's reset query (no session state is kept);
- pool and query metrics in fixed memory.

Unavailability leaves the manager as :class:`DatabaseUnavailable` (reason,
retry_after_s), with the driver's error as ``__cause__``; every other error
(constraint violations, syntax) leaves unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import asyncpg

from reference_impl.db.config import DbConfig, redact_dsn
from reference_impl.db.errors import CommitOutcomeUnknown, DatabaseUnavailable
from reference_impl.db.metrics import QueryMetrics
from reference_impl.db.schema import SchemaState
from reference_impl.resilience.breaker import CircuitBreaker
from reference_impl.resilience.errors import CircuitOpenError
from reference_impl.resilience.retry import RetryBudget, RetryPolicy, retry_call
from reference_impl.resilience.sqlstate import classify_db_error, is_undefined_column, sqlstate_of

__all__ = ["DatabaseManager", "ManagedConnection"]

T = TypeVar("T")

_CONNECTION_STATES = ("08", "57P01", "57P02", "57P03")
_UNAVAILABLE_BY_CLASS = {"network": "unreachable", "timeout": "timeout"}


class ManagedConnection(asyncpg.Connection):  # asyncpg is untyped
    """An asyncpg connection that remembers when it was opened (for the max lifetime)."""

    __slots__ = ("born_at",)


class DatabaseManager:
    """The one pool of the process, with the resilience stack around it.

    ``clock`` times acquires, queries and the retry deadline; ``deadline_s``
    bounds a read with its retries (the request deadline). ``retry_budget``
    defaults to a fresh :class:`RetryBudget` when a ``retry_policy`` is given.
    """

    def __init__(
        self,
        config: DbConfig,
        breaker: CircuitBreaker | None = None,
        retry_policy: RetryPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
        *,
        retry_budget: RetryBudget | None = None,
        deadline_s: float = 2.0,
    ) -> None:
        self.config = config
        self.breaker = breaker
        self.retry_policy = retry_policy
        self.retry_budget = retry_budget
        if retry_budget is None and retry_policy is not None:
            self.retry_budget = RetryBudget(clock=clock)
        self.deadline_s = deadline_s
        self.metrics = QueryMetrics()
        self.schema = SchemaState(self.connection, clock=clock)
        self._clock = clock
        self._pool: asyncpg.Pool | None = None
        self._in_use = 0
        self._acquiring = 0
        self.discarded = 0
        self.retired = 0

    # -- lifecycle -------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._pool is not None

    async def connect(self) -> None:
        """Open the pool (``pool_min`` connections); raise ``DatabaseUnavailable`` on failure.

        Startup retries this; a second call on a connected manager does nothing.
        """
        if self._pool is not None:
            return
        cfg = self.config
        try:
            self._pool = await asyncpg.create_pool(
                cfg.dsn,
                min_size=cfg.pool_min,
                max_size=cfg.pool_max,
                max_inactive_connection_lifetime=cfg.max_inactive_s,
                command_timeout=cfg.command_timeout_s,
                timeout=cfg.connect_timeout_s,
                server_settings=cfg.server_settings,
                init=self._init_connection,
                reset=_keep_session,
                connection_class=ManagedConnection,
            )
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            reason = "too_many_connections" if sqlstate_of(exc) == "53300" else "unreachable"
            raise DatabaseUnavailable(
                reason, 1.0,
                f"cannot open the pool to {redact_dsn(cfg.dsn)}: {type(exc).__name__}: {exc}",
            ) from exc

    async def _init_connection(self, conn: asyncpg.Connection) -> None:
        conn.born_at = self._clock()

    async def close(self, timeout_s: float = 5.0) -> bool:
        """Close the pool, waiting at most ``timeout_s`` for connections in use; then terminate.

        Returns ``True`` when every connection closed gracefully.
        """
        pool, self._pool = self._pool, None
        if pool is None:
            return True
        try:
            await asyncio.wait_for(pool.close(), timeout_s)
            return True
        except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            pool.terminate()
            return False

    # -- sessions --------------------------------------------------------------------

    @asynccontextmanager
    async def connection(self, *, streaming: bool = False) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection for a block of statements (autocommit unless you open one).

        ``streaming``: the block stays open while a response streams, so its
        length says nothing about the database and is not judged as a slow call.
        """
        try:
            async with self._session(streaming, observe=not streaming) as conn:
                yield conn
        except Exception as exc:
            surfaced = self._surface(exc)
            if surfaced is exc:
                raise
            raise surfaced from exc

    @asynccontextmanager
    async def transaction(self, *, streaming: bool = False) -> AsyncIterator[asyncpg.Connection]:
        """A connection inside a transaction, committed when the block ends without error.

        A connection lost (or timed out) during COMMIT raises
        :class:`CommitOutcomeUnknown`: the write may exist; never acknowledge it.
        """
        async with self.connection(streaming=streaming) as conn:
            tx = conn.transaction()
            await tx.start()
            try:
                yield conn
            except BaseException:
                if not conn.is_closed():
                    with contextlib.suppress(Exception):
                        await tx.rollback()
                raise
            try:
                await tx.commit()
            except Exception as exc:
                if _outcome_unknown(exc):
                    detail = f"during COMMIT: {type(exc).__name__}: {exc}"
                    raise CommitOutcomeUnknown(detail) from exc
                raise

    @asynccontextmanager
    async def _session(
        self, streaming: bool, *, observe: bool = False
    ) -> AsyncIterator[asyncpg.Connection]:
        """Breaker admission, bounded acquire, outcome recording, bounded release.

        ``observe``: count the block's time (after the acquire) as one query latency.
        """
        pool, started = self._admit()
        conn = await self._acquire(pool, started)
        acquired = self._clock()
        try:
            yield conn
        except BaseException as exc:
            await self._checkin(pool, conn, started, acquired, exc, streaming, observe)
            raise
        await self._checkin(pool, conn, started, acquired, None, streaming, observe)

    async def _attempt(self, call: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        """One statement: what ``_session`` does, as a plain coroutine (the hot path)."""
        pool, started = self._admit()
        conn = await self._acquire(pool, started)
        acquired = self._clock()
        try:
            result = await call(conn)
        except BaseException as exc:
            await self._checkin(pool, conn, started, acquired, exc, False, True)
            raise
        await self._checkin(pool, conn, started, acquired, None, False, True)
        return result

    def _admit(self) -> tuple[asyncpg.Pool, float]:
        """The open pool and the admission time, if the breaker lets the operation in."""
        pool = self._pool
        if pool is None:
            raise DatabaseUnavailable("not_connected", 1.0, "the pool is not open (yet)")
        if self.breaker is not None:
            try:
                self.breaker.allow()
            except CircuitOpenError as exc:
                raise DatabaseUnavailable("breaker_open", exc.retry_after_s, str(exc)) from exc
        return pool, self._clock()

    async def _acquire(self, pool: asyncpg.Pool, started: float) -> asyncpg.Connection:
        """Acquire: 200 ms when every connection is busy, else time for a connect as well.

        A failure is recorded (a shed acquire is ignored by the breaker, being our own
        limit, not the database's failure) before it propagates.
        """
        cfg = self.config
        busy = self._in_use + self._acquiring >= cfg.pool_max
        timeout = cfg.acquire_timeout_s if busy else cfg.acquire_timeout_s + cfg.connect_timeout_s
        self._acquiring += 1
        try:
            if busy:
                async with asyncio.timeout(timeout):
                    conn = await pool.acquire()
            else:
                # pool.acquire(timeout=) adds a task per call. With a free slot only a
                # (re)connect can wait, which the pool's connect timeout bounds: no timer.
                conn = await pool.acquire()
        except asyncpg.InterfaceError as exc:
            if pool.is_closing():
                self._breaker_ignore()
                raise DatabaseUnavailable("closing", 1.0, "the pool is closing") from exc
            self._record_failure_or_ignore(exc, self._clock() - started)
            raise
        except TimeoutError as exc:
            if busy or self._in_use >= cfg.pool_max:
                self._breaker_ignore()
                raise DatabaseUnavailable(
                    "pool_exhausted", 1.0,
                    f"all {cfg.pool_max} connections busy for {timeout * 1000:.0f} ms",
                ) from exc
            self._record_failure_or_ignore(exc, self._clock() - started)
            raise
        except BaseException as exc:
            self._record_failure_or_ignore(exc, self._clock() - started)
            raise
        finally:
            self._acquiring -= 1
        self._in_use += 1
        self.metrics.acquire_ms.add((self._clock() - started) * 1000)
        return conn

    async def _checkin(
        self, pool: asyncpg.Pool, conn: asyncpg.Connection, started: float, acquired: float,
        error: BaseException | None, streaming: bool, observe: bool,
    ) -> None:
        """Record the outcome (breaker, metrics) and give the connection back (or discard it)."""
        now = self._clock()
        discard = False
        if error is not None:
            discard = self._record_failure_or_ignore(error, 0.0 if streaming else now - started)
        elif self.breaker is not None:
            self.breaker.record_success(0.0 if streaming else now - started)
        if observe:
            self.metrics.observe_query((now - acquired) * 1000)
        await self._release(pool, conn, discard)

    async def _release(self, pool: asyncpg.Pool, conn: asyncpg.Connection, discard: bool) -> None:
        self._in_use -= 1
        born = getattr(conn, "born_at", None)
        expired = born is not None and self._clock() - born > self.config.max_lifetime_s
        if discard or expired:
            self.discarded += discard
            self.retired += expired and not discard
            with contextlib.suppress(asyncpg.InterfaceError):  # already closed and detached
                conn.terminate()
        with contextlib.suppress(Exception):
            await pool.release(conn, timeout=self.config.command_timeout_s)

    def _record_failure_or_ignore(self, exc: BaseException, duration_s: float) -> bool:
        """Feed the breaker and metrics; return True when the connection must be discarded."""
        cause = exc.__cause__ if isinstance(exc, CommitOutcomeUnknown) and exc.__cause__ else exc
        kind = classify_db_error(cause)
        if kind.error_class != "unknown":
            self.metrics.observe_error(kind.error_class, kind.sqlstate)
        if is_undefined_column(cause):
            self.schema.mark_invalid(f"query failed: {cause}")
        if self.breaker is not None:
            if kind.counts_for_breaker:
                self.breaker.record_failure(duration_s)
            else:
                self.breaker.record_ignored()
        return kind.sqlstate is None and kind.error_class in ("network", "timeout")

    def _breaker_ignore(self) -> None:
        if self.breaker is not None:
            self.breaker.record_ignored()

    def _surface(self, exc: BaseException) -> BaseException:
        """The error a caller sees: unavailability as ``DatabaseUnavailable``, the rest as is."""
        if isinstance(exc, DatabaseUnavailable):
            self.metrics.unavailable_by_reason[exc.reason] += 1
            return exc
        reason: str | None
        if is_undefined_column(exc):
            reason = "schema_invalid"
        elif sqlstate_of(exc) == "53300":
            reason = "too_many_connections"
        else:
            reason = _UNAVAILABLE_BY_CLASS.get(classify_db_error(exc).error_class)
            if reason is None and (sqlstate_of(exc) or "").startswith("57P0"):
                reason = "unreachable"
        if reason is None:
            return exc
        self.metrics.unavailable_by_reason[reason] += 1
        return DatabaseUnavailable(reason, self._retry_after(), f"{type(exc).__name__}: {exc}")

    def _retry_after(self) -> float:
        if self.breaker is not None:
            return max(1.0, self.breaker.retry_after_s())
        return 1.0

    # -- one-statement helpers -------------------------------------------------------

    # Plain functions returning the ``_run`` coroutine: one frame fewer on every await.

    def fetch(
        self, sql: str, *args: Any, timeout: float | None = None, retry: bool = True
    ) -> Coroutine[Any, Any, list[asyncpg.Record]]:
        """Rows of ``sql``; retried for transient errors unless ``retry=False``."""
        return self._run(lambda conn: conn.fetch(sql, *args, timeout=timeout), retry)

    def fetchrow(
        self, sql: str, *args: Any, timeout: float | None = None, retry: bool = True
    ) -> Coroutine[Any, Any, asyncpg.Record | None]:
        """The first row of ``sql`` or ``None``; retried like :meth:`fetch`."""
        return self._run(lambda conn: conn.fetchrow(sql, *args, timeout=timeout), retry)

    def fetchval(
        self, sql: str, *args: Any, timeout: float | None = None, retry: bool = True
    ) -> Coroutine[Any, Any, Any]:
        """The first column of the first row of ``sql``; retried like :meth:`fetch`."""
        return self._run(lambda conn: conn.fetchval(sql, *args, timeout=timeout), retry)

    def execute(
        self, sql: str, *args: Any, timeout: float | None = None, retry: bool = False
    ) -> Coroutine[Any, Any, str]:
        """Run a statement (a write, so not retried unless ``retry=True``); returns its status."""
        return self._run(lambda conn: conn.execute(sql, *args, timeout=timeout), retry)

    async def _run(self, call: Callable[[asyncpg.Connection], Awaitable[T]], retry: bool) -> T:
        """The statement through ``_attempt``; on a transient failure, retried by ``retry_call``
        (entered only then: a first attempt that succeeds costs no retry machinery)."""
        retrying = retry and self.retry_policy is not None
        began = self._clock() if retrying else 0.0
        if retrying and self.retry_budget is not None:
            self.retry_budget.record_request()
        try:
            try:
                return await self._attempt(call)
            except Exception as exc:
                if not retrying or not _retryable(exc):
                    raise
                assert self.retry_policy is not None
                return await retry_call(
                    functools.partial(self._attempt, call), self.retry_policy,
                    is_retryable=_retryable, deadline=began + self.deadline_s,
                    budget=self.retry_budget, breaker=self.breaker, clock=self._clock,
                    on_retry=self._on_retry, first_failure=exc,
                )
        except Exception as exc:
            surfaced = self._surface(exc)
            if surfaced is exc:
                raise
            raise surfaced from exc

    def _on_retry(self, attempt: int, delay_s: float, exc: BaseException) -> None:
        self.metrics.retries += 1

    # -- observability ---------------------------------------------------------------

    def pool_stats(self) -> dict[str, Any]:
        """Pool figures: size, in_use, idle, waiting, max, min, acquire p50/p99 (ms)."""
        pool = self._pool
        acquire = self.metrics.acquire_ms
        return {
            "connected": pool is not None,
            "size": pool.get_size() if pool is not None else 0,
            "in_use": self._in_use,
            "idle": pool.get_idle_size() if pool is not None else 0,
            "waiting": self._acquiring,
            "max": self.config.pool_max,
            "min": self.config.pool_min,
            "acquire_p50_ms": _round(acquire.percentile(50)),
            "acquire_p99_ms": _round(acquire.percentile(99)),
            "discarded": self.discarded,
            "retired": self.retired,
        }

    def query_stats(self) -> dict[str, Any]:
        """Query figures: latency histogram, errors by class/SQLSTATE, retries, unavailability."""
        stats = self.metrics.snapshot()
        stats["breaker"] = self.breaker.snapshot() if self.breaker is not None else None
        stats["retry_budget"] = self.retry_budget.snapshot() if self.retry_budget else None
        return stats

    async def probe(self, timeout_s: float) -> None:
        """``select 1`` on a pooled connection for the health monitor; raise on failure.

        Only when a slot is free right now: with every connection in use or waited
        for it raises :class:`DatabaseUnavailable` ``pool_exhausted`` at once (no
        queueing behind requests); ``not_connected``/``closing`` without an open pool.
        Bypasses the breaker (neither admitted nor recorded) and the query metrics;
        counts in ``in_use`` while it holds the connection, so the request path's
        "is the pool busy" judgement stays exact. A connection whose probe failed is
        discarded. Bounded by ``timeout_s`` (the acquire's connect included).
        """
        pool = self._pool
        if pool is None:
            raise DatabaseUnavailable("not_connected", 1.0, "the pool is not open")
        if pool.is_closing():
            raise DatabaseUnavailable("closing", 1.0, "the pool is closing")
        if self._in_use + self._acquiring >= self.config.pool_max:
            raise DatabaseUnavailable("pool_exhausted", 1.0,
                                      f"all {self.config.pool_max} connections busy")
        async with asyncio.timeout(timeout_s):
            conn = await pool.acquire()
        self._in_use += 1
        discard = True
        try:
            async with asyncio.timeout(timeout_s):
                await conn.fetchval("select 1")
            discard = False
        finally:
            await self._release(pool, conn, discard)

    async def health_check(self, timeout_s: float = 0.5) -> dict[str, Any]:
        """``select 1`` through the breaker within ``timeout_s``: ok, latency, error, pool."""
        started = self._clock()
        error: str | None = None
        try:
            async with asyncio.timeout(timeout_s), self._session(streaming=False) as conn:
                await conn.fetchval("select 1", timeout=timeout_s)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return {
            "ok": error is None,
            "latency_ms": round((self._clock() - started) * 1000, 3),
            "error": error,
            "breaker": self.breaker.state.value if self.breaker is not None else None,
            "pool": self.pool_stats(),
        }


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, DatabaseUnavailable):
        return False
    return classify_db_error(exc).retryable


def _outcome_unknown(exc: BaseException) -> bool:
    """True when a COMMIT failed in a way that leaves its outcome unknown (the link broke)."""
    state = sqlstate_of(exc)
    if state is not None:
        return state.startswith(_CONNECTION_STATES[0]) or state in _CONNECTION_STATES[1:]
    return classify_db_error(exc).error_class in ("network", "timeout")


async def _keep_session(conn: asyncpg.Connection) -> None:
    """The pool's reset at release: nothing beyond asyncpg's own rollback of an open
    transaction. The app keeps no session state on pooled connections (no SET, LISTEN,
    advisory locks or held cursors: migrations take their own connection), so asyncpg's
    default reset query (unlock all, close all, unlisten, reset all) would be one more
    round trip per request for nothing."""


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
