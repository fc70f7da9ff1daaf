"""Classify database errors once, so retry, breaker and error boundary agree.

``classify_db_error`` maps an exception (asyncpg's, the socket layer's, a
timeout) to a :class:`DbErrorKind` answering three questions:

- ``retryable``: is a retry safe and likely to help?  Only transient failures:
  connection exceptions (class 08), admin/crash shutdown and "cannot connect
  now" (57P01-57P03), too many connections (53300), serialization failure and
  deadlock (40001, 40P01), refused or reset connects.  Never auth (28xxx),
  unknown database (3D000), syntax/schema (42xxx), integrity (23xxx) or data
  (22xxx) errors: those fail the same way every time.
- ``counts_for_breaker``: does it say the *database* is unhealthy?  Connection
  errors, timeouts, 08xxx, 57P0x, 53xxx.  Not the caller's mistakes (22xxx,
  23xxx, 42xxx), not contention (40001/40P01) and not cancellation.
- ``error_class``: the error boundary's vocabulary (``database``, ``network``,
  ``timeout``, ``schema``, ``validation``, ``memory``, ``cancelled``,
  ``unknown``).

Figures follow the Postgres SQLSTATE appendix and CONVENTIONS.md.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

__all__ = ["DbErrorKind", "classify_db_error", "is_undefined_column", "sqlstate_of"]


@dataclass(frozen=True, slots=True)
class DbErrorKind:
    """What an error means for retry, breaker and reporting."""

    error_class: str
    retryable: bool
    counts_for_breaker: bool
    sqlstate: str | None = None
    reason: str = ""


_TRANSIENT_STATES = frozenset({"57P01", "57P02", "57P03", "53300", "40001", "40P01"})
_STATEMENT_TIMEOUT_HINTS = ("statement timeout", "lock timeout")


def sqlstate_of(exc: BaseException) -> str | None:
    """The five-character SQLSTATE an asyncpg error carries, or ``None``."""
    state = getattr(exc, "sqlstate", None)
    if isinstance(state, str) and len(state) == 5:
        return state
    return None


def is_undefined_column(exc: BaseException) -> bool:
    """True for ``column ... does not exist`` (SQLSTATE 42703): the schema drifted."""
    return sqlstate_of(exc) == "42703"


def classify_db_error(exc: BaseException) -> DbErrorKind:
    """Classify ``exc``; an error that is not a database error is ``unknown``."""
    state = sqlstate_of(exc)
    if state is not None:
        return _classify_sqlstate(state, str(exc))
    return _classify_python(exc)


def _classify_sqlstate(state: str, message: str) -> DbErrorKind:  # noqa: C901 - a lookup table
    cls = state[:2]
    if cls == "08":
        return DbErrorKind("network", True, True, state, "connection exception")
    if state in _TRANSIENT_STATES:
        counts = cls in ("57", "53")
        error_class = "database"
        return DbErrorKind(error_class, True, counts, state, "transient")
    if state == "57014":
        if any(hint in message.lower() for hint in _STATEMENT_TIMEOUT_HINTS):
            return DbErrorKind("timeout", False, True, state, "statement timeout")
        return DbErrorKind("cancelled", False, False, state, "query cancelled")
    if state == "55P03":
        return DbErrorKind("timeout", False, False, state, "lock not available")
    if cls == "53":
        error_class = "memory" if state == "53200" else "database"
        return DbErrorKind(error_class, False, True, state, "insufficient resources")
    if cls in ("57", "58", "XX"):
        return DbErrorKind("database", False, True, state, "server failure")
    if cls == "42":
        return DbErrorKind("schema", False, False, state, "syntax or schema")
    if cls in ("22", "23"):
        return DbErrorKind("validation", False, False, state, "data or integrity")
    if cls in ("28", "3D"):
        return DbErrorKind("database", False, False, state, "authorization or catalog")
    return DbErrorKind("database", False, False, state, "other database error")


def _classify_python(exc: BaseException) -> DbErrorKind:
    if isinstance(exc, asyncio.CancelledError):
        return DbErrorKind("cancelled", False, False, None, "cancelled")
    if isinstance(exc, TimeoutError):  # before OSError: TimeoutError subclasses it
        return DbErrorKind("timeout", False, True, None, "timeout")
    if isinstance(exc, (ConnectionError, OSError, EOFError)):
        return DbErrorKind("network", True, True, None, type(exc).__name__)
    if isinstance(exc, MemoryError):
        return DbErrorKind("memory", False, False, None, "out of memory")
    if _is_connection_closed_interface_error(exc):
        return DbErrorKind("network", True, True, None, "connection closed")
    return DbErrorKind("unknown", False, False, None, type(exc).__name__)


def _is_connection_closed_interface_error(exc: BaseException) -> bool:
    """asyncpg raises InterfaceError('connection is closed') without a SQLSTATE."""
    try:
        from asyncpg.exceptions import InterfaceError
    except ImportError:  # pragma: no cover - asyncpg is a dependency
        return False
    if not isinstance(exc, InterfaceError):
        return False
    text = str(exc).lower()
    return "connection" in text and ("closed" in text or "lost" in text)
