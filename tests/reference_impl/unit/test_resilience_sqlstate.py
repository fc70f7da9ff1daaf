"""SQLSTATE classification: the table retry, breaker and error boundary all rely on."""

from __future__ import annotations

import asyncio

import pytest
from asyncpg import exceptions as pg

from reference_impl.resilience.sqlstate import (
    classify_db_error,
    is_undefined_column,
    sqlstate_of,
)


class _WithState(Exception):
    """An exception carrying a SQLSTATE the way asyncpg's do."""

    def __init__(self, sqlstate: str, message: str = "boom") -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


# (exception, error_class, retryable, counts_for_breaker)
TABLE: list[tuple[BaseException, str, bool, bool]] = [
    (_WithState("08006"), "network", True, True),
    (_WithState("08001"), "network", True, True),
    (pg.ConnectionDoesNotExistError("gone"), "network", True, True),
    (pg.AdminShutdownError("terminating"), "database", True, True),
    (_WithState("57P02"), "database", True, True),
    (pg.CannotConnectNowError("starting up"), "database", True, True),
    (pg.TooManyConnectionsError("too many clients"), "database", True, True),
    (_WithState("53100"), "database", False, True),
    (_WithState("53200"), "memory", False, True),
    (pg.SerializationError("could not serialize"), "database", True, False),
    (pg.DeadlockDetectedError("deadlock"), "database", True, False),
    (pg.UndefinedColumnError("column node_id does not exist"), "schema", False, False),
    (pg.UndefinedTableError("relation nodes does not exist"), "schema", False, False),
    (pg.PostgresSyntaxError("syntax"), "schema", False, False),
    (pg.UniqueViolationError("duplicate key"), "validation", False, False),
    (pg.InvalidTextRepresentationError("bad uuid"), "validation", False, False),
    (pg.InvalidPasswordError("password"), "database", False, False),
    (pg.InvalidCatalogNameError("no db"), "database", False, False),
    (pg.QueryCanceledError("canceling statement due to statement timeout"), "timeout", False, True),
    (pg.QueryCanceledError("canceling statement due to user request"), "cancelled", False, False),
    (pg.LockNotAvailableError("canceling statement due to lock timeout"), "timeout", False, False),
    (ConnectionRefusedError(111, "refused"), "network", True, True),
    (ConnectionResetError(104, "reset"), "network", True, True),
    (OSError(113, "no route"), "network", True, True),
    (TimeoutError(), "timeout", False, True),
    (asyncio.CancelledError(), "cancelled", False, False),
    (pg.InterfaceError("connection is closed"), "network", True, True),
    (pg.InterfaceError("cannot perform operation: another operation is in progress"),
     "unknown", False, False),
    (ValueError("nope"), "unknown", False, False),
]


@pytest.mark.parametrize(("exc", "error_class", "retryable", "counts"), TABLE,
                         ids=[f"{type(row[0]).__name__}-{i}" for i, row in enumerate(TABLE)])
def test_classification_table(exc: BaseException, error_class: str, retryable: bool,
                              counts: bool) -> None:
    """Each error maps to the class, retry and breaker verdicts of CONVENTIONS.md."""
    kind = classify_db_error(exc)
    assert (kind.error_class, kind.retryable, kind.counts_for_breaker) == \
        (error_class, retryable, counts)
    assert kind.sqlstate == sqlstate_of(exc)


def test_never_retry_the_permanent_classes() -> None:
    """28xxx, 3D000, 42xxx, 23xxx and 22xxx are never retryable, whatever the subclass."""
    for state in ("28000", "28P01", "3D000", "42703", "42P01", "42601", "23505", "23503",
                  "22P02", "22003"):
        assert not classify_db_error(_WithState(state)).retryable, state


def test_undefined_column_detection() -> None:
    """Only SQLSTATE 42703 is an undefined column; an undefined table is not."""
    assert is_undefined_column(pg.UndefinedColumnError("column nodes.node_id does not exist"))
    assert not is_undefined_column(pg.UndefinedTableError("relation does not exist"))
    assert not is_undefined_column(ValueError("42703"))


def test_sqlstate_of_ignores_malformed_values() -> None:
    """A ``sqlstate`` attribute that is not a 5-character string is ignored."""
    assert sqlstate_of(_WithState("123")) is None
    assert sqlstate_of(ValueError()) is None
