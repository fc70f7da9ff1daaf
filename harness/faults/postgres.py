"""Postgres fault actions.

Each action returns its detail (a dict, written to the timeline's ``detail``) and
raises its own error when it fails: a :class:`FaultError` for a refused parameter or
an unavailable action, the provider's :class:`~harness.errors.ProvisionError`, or
asyncpg's exception from the server, unwrapped, so the timeline's ``error`` names the
real cause (``"TooManyConnectionsError: ..."``). Process actions (stop, crash, start,
restart, freeze, thaw) need a provider that owns the server process; a server reached
by DSN refuses them with a :class:`FaultError` that names what is unavailable. SQL
actions (exhaust_connections, set_max_connections, terminate_backends, drift_schema)
work on any server we may administer.
"""

from __future__ import annotations

import asyncio
import re
import threading
from typing import Any, Protocol

import asyncpg

from harness.errors import FaultError
from harness.provision.pg_probe import fetch

__all__ = [
    "ConnectionHolder",
    "PostgresTarget",
    "crash",
    "drift_rollback_sql",
    "drift_schema",
    "exhaust_connections",
    "freeze",
    "restart",
    "set_max_connections",
    "start",
    "stop",
    "terminate_backends",
    "thaw",
]

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class PostgresTarget(Protocol):
    """What the actions need of a provider. Process methods may raise FaultError."""

    provider: str

    @property
    def dsn(self) -> str: ...

    def stop(self, mode: Any = "fast", timeout: float = 30.0) -> int | None: ...

    def start(self) -> float: ...

    def crash(self) -> None: ...

    def freeze(self) -> list[int]: ...

    def thaw(self) -> list[int]: ...


def _check_mode(mode: str) -> None:
    if mode not in ("smart", "fast", "immediate"):
        raise FaultError(f"postgres.stop: mode must be smart, fast or immediate, got {mode!r}")


def _ident(value: str, what: str) -> str:
    if not isinstance(value, str) or not _IDENT.match(value):
        raise FaultError(f"{what} must be a plain SQL identifier, got {value!r}")
    return value


# -- process actions ----------------------------------------------------------------


def stop(pg: PostgresTarget, mode: str = "fast") -> dict[str, object]:
    """Shut Postgres down (smart / fast / immediate)."""
    _check_mode(mode)
    return {"exit_code": pg.stop(mode)}


def start(pg: PostgresTarget) -> dict[str, object]:
    """Start Postgres (after stop or crash; a crash makes it run recovery)."""
    return {"ready_s": pg.start()}


def restart(pg: PostgresTarget, mode: str = "fast") -> dict[str, object]:
    """Stop with ``mode`` and start again."""
    _check_mode(mode)
    code = pg.stop(mode)
    return {"exit_code": code, "ready_s": pg.start()}


def crash(pg: PostgresTarget) -> dict[str, object]:
    """SIGKILL the postmaster and its backends (no shutdown checkpoint)."""
    pg.crash()
    return {}


def freeze(pg: PostgresTarget) -> dict[str, object]:
    """SIGSTOP the postmaster and all its backends: connections hang, nothing answers."""
    return {"pids": pg.freeze()}


def thaw(pg: PostgresTarget) -> dict[str, object]:
    """SIGCONT what freeze stopped."""
    return {"pids": pg.thaw()}


# -- SQL actions --------------------------------------------------------------------


class ConnectionHolder:
    """Holds N connections to Postgres from outside the app until released.

    The connections live on a private event loop in a daemon thread; release()
    closes them. Used by ``exhaust_connections`` to provoke ``too many clients``.
    """

    def __init__(self, dsn: str, count: int) -> None:
        if not isinstance(count, int) or count < 1:
            raise FaultError(f"exhaust_connections: count must be a positive integer, got {count!r}")
        self.dsn = dsn
        self.count = count
        self.held = 0
        self.error: str | None = None
        self._loop = asyncio.new_event_loop()
        self._conns: list[asyncpg.Connection] = []
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                        name="pg-connection-holder")

    def acquire(self, timeout: float = 20.0) -> int:
        """Open the connections; returns how many are held (fewer if the server refused)."""
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._open(), self._loop)
        future.result(timeout)
        return self.held

    async def _open(self) -> None:
        for _ in range(self.count):
            try:
                conn = await asyncpg.connect(self.dsn, timeout=5.0,
                                             server_settings={"application_name": "chaosharness-hold"})
            except (asyncpg.PostgresError, OSError, TimeoutError) as exc:
                self.error = f"{type(exc).__name__}: {exc}"
                break
            self._conns.append(conn)
            self.held += 1

    def release(self, timeout: float = 10.0) -> None:
        """Close every held connection and stop the thread."""
        if not self._thread.is_alive():
            return

        async def close_all() -> None:
            for conn in self._conns:
                try:
                    await asyncio.wait_for(conn.close(), 2.0)
                except (OSError, TimeoutError, asyncpg.PostgresError):
                    conn.terminate()
            self._conns.clear()

        try:
            asyncio.run_coroutine_threadsafe(close_all(), self._loop).result(timeout)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout)
            if not self._thread.is_alive():
                self._loop.close()
            self.held = 0


def _free_slots(dsn: str) -> tuple[int, int, int]:
    rows = fetch(
        dsn,
        "select current_setting('max_connections')::int, "
        "current_setting('superuser_reserved_connections')::int, "
        "(select count(*) from pg_stat_activity where backend_type = 'client backend'"
        " and pid <> pg_backend_pid())::int",
    )
    return rows[0][0], rows[0][1], rows[0][2]


def exhaust_connections(
    pg: PostgresTarget, count: int | None = None, leave: int = 0
) -> tuple[dict[str, object], ConnectionHolder]:
    """Hold ``count`` connections (default: every free one but ``leave``) until released.

    Holding all free non-superuser slots makes the next connection fail with
    SQLSTATE 53300 (too many clients). Returns the detail and the holder, which the
    caller releases.
    """
    if not isinstance(leave, int) or leave < 0:
        raise FaultError(f"exhaust_connections: leave must be >= 0, got {leave!r}")
    max_conn, reserved, used = _free_slots(pg.dsn)
    n = count if count is not None else max(0, max_conn - reserved - used - leave)
    if n < 1:
        raise FaultError(f"exhaust_connections: nothing to hold ({max_conn} max, {used} in use)")
    holder = ConnectionHolder(pg.dsn, n)
    try:
        held = holder.acquire()
    except BaseException:
        holder.release()  # nobody else holds it to release: close what opened
        raise
    return {"requested": n, "held": held, "max_connections": max_conn,
            "error": holder.error}, holder


def set_max_connections(pg: PostgresTarget, value: int) -> tuple[int, int]:
    """``ALTER SYSTEM SET max_connections`` and restart so it takes effect; returns the
    setting (before, after)."""
    if not isinstance(value, int) or not 5 <= value <= 10000:
        raise FaultError(f"set_max_connections: value must be an integer in 5..10000, got {value!r}")
    before = int(fetch(pg.dsn, "show max_connections")[0][0])
    fetch(pg.dsn, f"alter system set max_connections = {int(value)}")
    pg.stop("fast")
    pg.start()
    after = int(fetch(pg.dsn, "show max_connections")[0][0])
    return before, after


def terminate_backends(pg: PostgresTarget, application: str = "reference_impl") -> dict[str, object]:
    """``pg_terminate_backend`` on every connection whose application_name is ``application``."""
    rows = fetch(
        pg.dsn,
        "select count(*) filter (where pg_terminate_backend(pid)) from pg_stat_activity "
        "where application_name = $1 and pid <> pg_backend_pid()",
        application,
    )
    return {"terminated": int(rows[0][0])}


def drift_rollback_sql(table: str, column: str, new_name: str) -> str:
    """The statement that undoes ``drift_schema(table, column, new_name)``."""
    return (f'alter table "{_ident(table, "table")}" rename column '
            f'"{_ident(new_name, "new_name")}" to "{_ident(column, "column")}";')


def drift_schema(
    pg: PostgresTarget, table: str, column: str, new_name: str, database: str | None = None
) -> dict[str, object]:
    """Rename ``table.column`` to ``new_name`` (revert by swapping the names)."""
    sql = (f'alter table "{_ident(table, "table")}" rename column '
           f'"{_ident(column, "column")}" to "{_ident(new_name, "new_name")}"')
    dsn = pg.dsn if database is None else pg.dsn.rsplit("/", 1)[0] + "/" + database
    exists = fetch(
        dsn,
        "select count(*) from information_schema.columns where table_name = $1 "
        "and column_name = $2", table, column,
    )[0][0]
    if not exists:
        already = fetch(
            dsn,
            "select count(*) from information_schema.columns where table_name = $1 "
            "and column_name = $2", table, new_name,
        )[0][0]
        if already:
            return {"already": True}  # idempotent: the drift is in place
        raise FaultError(f"drift_schema: column {table}.{column} does not exist")
    fetch(dsn, sql, timeout=10.0)
    return {"already": False}
