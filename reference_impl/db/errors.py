"""The database layer's exception tree.

Every error names the thing that failed and carries the evidence a route or an
operator needs to act on it::

    DatabaseError
    ├── ConfigError             a setting is invalid (names the environment variable)
    ├── DatabaseUnavailable     cannot serve now: pool exhausted, breaker open, server unreachable
    │   │                       (reason, retry_after_s -> the route's 503 + Retry-After)
    │   └── CommitOutcomeUnknown  the connection was lost while COMMIT was in flight:
    │                             never acknowledge, settle by the idempotency key
    ├── IdempotencyConflict     the same Idempotency-Key was used with another request body
    ├── SchemaMismatch          the live schema lacks a column the code uses
    └── MigrationError          a migration failed, was edited after it ran, or is unknown
"""

from __future__ import annotations

__all__ = [
    "CommitOutcomeUnknown",
    "ConfigError",
    "DatabaseError",
    "DatabaseUnavailable",
    "IdempotencyConflict",
    "MigrationError",
    "SchemaMismatch",
]


class DatabaseError(Exception):
    """Root of every error the database layer raises on purpose."""


class ConfigError(DatabaseError, ValueError):
    """A database setting is invalid; the message names the variable and the value."""

    def __init__(self, variable: str, value: object, expected: str) -> None:
        self.variable = variable
        self.value = value
        self.expected = expected
        super().__init__(f"{variable}={value!r}: expected {expected}")


class DatabaseUnavailable(DatabaseError):
    """The database cannot serve this request now; the caller answers 503 + Retry-After.

    ``reason`` is one short machine-readable word (``pool_exhausted``,
    ``breaker_open``, ``unreachable``, ``timeout``, ``not_connected``,
    ``commit_unknown``); ``detail`` says what happened in words.
    """

    def __init__(self, reason: str, retry_after_s: float = 1.0, detail: str = "") -> None:
        self.reason = reason
        self.retry_after_s = retry_after_s
        self.detail = detail
        text = f"database unavailable ({reason}), retry after {retry_after_s:.1f}s"
        super().__init__(f"{text}: {detail}" if detail else text)


class CommitOutcomeUnknown(DatabaseUnavailable):
    """The connection was lost while COMMIT was in flight: the write may or may not exist.

    The route must not acknowledge it; a client retry under the same idempotency
    key settles it (the key is unique, so a replay finds the committed row or
    inserts it once).
    """

    def __init__(self, detail: str = "", retry_after_s: float = 1.0) -> None:
        super().__init__("commit_unknown", retry_after_s, detail)


class IdempotencyConflict(DatabaseError):
    """An idempotency key was reused with a different request body (the route answers 409)."""

    def __init__(self, key: str, stored_hash: str | None, request_hash: str) -> None:
        self.key = key
        self.stored_hash = stored_hash
        self.request_hash = request_hash
        super().__init__(
            f"idempotency key {key!r} was already used with another body "
            f"(stored hash {stored_hash}, this request {request_hash})"
        )


class SchemaMismatch(DatabaseError):
    """The live schema does not have what the code uses; ``problems`` names each column."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("schema mismatch: " + "; ".join(self.problems))


class MigrationError(DatabaseError):
    """A migration could not be applied or the recorded history does not match the files.

    ``version`` is the migration concerned (``None`` when the problem is not one
    migration's, e.g. the lock could not be taken).
    """

    def __init__(self, message: str, version: str | None = None) -> None:
        self.version = version
        super().__init__(message)
