"""Database settings: one frozen dataclass, read from the environment, validated once.

The defaults are the resilience budget from CONVENTIONS.md: connect 2 s, command
timeout 1 s with the server's ``statement_timeout`` (800 ms) below it so Postgres
cancels first and the connection stays usable, ``lock_timeout`` 200 ms, pool
acquire 200 ms (then 503 + Retry-After), pool min 2 / max 10.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from reference_impl.db.errors import ConfigError

__all__ = ["ENV_VARS", "DbConfig", "redact_dsn"]

#: Which environment variable sets which field (DATABASE_URL is the DSN).
ENV_VARS: dict[str, str] = {
    "dsn": "DATABASE_URL",
    "pool_min": "REFERENCE_IMPL_POOL_MIN",
    "pool_max": "REFERENCE_IMPL_POOL_MAX",
    "acquire_timeout_s": "REFERENCE_IMPL_ACQUIRE_TIMEOUT_S",
    "command_timeout_s": "REFERENCE_IMPL_COMMAND_TIMEOUT_S",
    "statement_timeout_ms": "REFERENCE_IMPL_STATEMENT_TIMEOUT_MS",
    "lock_timeout_ms": "REFERENCE_IMPL_LOCK_TIMEOUT_MS",
    "connect_timeout_s": "REFERENCE_IMPL_CONNECT_TIMEOUT_S",
    "max_lifetime_s": "REFERENCE_IMPL_DB_MAX_LIFETIME_S",
    "max_inactive_s": "REFERENCE_IMPL_DB_MAX_INACTIVE_S",
    "application_name": "REFERENCE_IMPL_DB_APPLICATION_NAME",
}


@dataclass(frozen=True, repr=False)
class DbConfig:
    """Everything the database manager needs; invalid combinations raise :class:`ConfigError`."""

    dsn: str
    pool_min: int = 2
    pool_max: int = 10
    acquire_timeout_s: float = 0.2
    command_timeout_s: float = 1.0
    statement_timeout_ms: int = 800
    lock_timeout_ms: int = 200
    connect_timeout_s: float = 2.0
    max_lifetime_s: float = 300.0
    max_inactive_s: float = 60.0
    application_name: str = "reference_impl"

    def __post_init__(self) -> None:
        for problem in self._problems():
            raise ConfigError(*problem)

    def _problems(self) -> list[tuple[str, object, str]]:
        """Every invalid setting as (field, value, what was expected)."""
        out: list[tuple[str, object, str]] = []
        if not self.dsn.startswith(("postgres://", "postgresql://")):
            out.append(("dsn", redact_dsn(self.dsn), "a postgresql:// URL"))
        if self.pool_min < 0:
            out.append(("pool_min", self.pool_min, "an integer >= 0"))
        if self.pool_max < 1 or self.pool_max < self.pool_min:
            expected = f"an integer >= 1 and >= pool_min ({self.pool_min})"
            out.append(("pool_max", self.pool_max, expected))
        for name in ("acquire_timeout_s", "command_timeout_s", "connect_timeout_s",
                     "max_lifetime_s", "max_inactive_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                out.append((name, value, "a finite number of seconds > 0"))
        if self.lock_timeout_ms < 0:
            out.append(("lock_timeout_ms", self.lock_timeout_ms, "milliseconds >= 0"))
        if not 0 < self.statement_timeout_ms < self.command_timeout_s * 1000:
            out.append((
                "statement_timeout_ms", self.statement_timeout_ms,
                f"milliseconds > 0 and below command_timeout_s ({self.command_timeout_s} s), "
                "so the server cancels first and the connection stays usable",
            ))
        if not self.application_name:
            out.append(("application_name", self.application_name, "a non-empty name"))
        return out

    def __repr__(self) -> str:
        """Every field, with a password in the DSN replaced (reprs end up in logs)."""
        shown = ", ".join(
            f"{f.name}={redact_dsn(self.dsn) if f.name == 'dsn' else getattr(self, f.name)!r}"
            for f in fields(self)
        )
        return f"DbConfig({shown})"

    @property
    def server_settings(self) -> dict[str, str]:
        """Session settings sent with every new connection."""
        return {
            "statement_timeout": str(self.statement_timeout_ms),
            "lock_timeout": str(self.lock_timeout_ms),
            "application_name": self.application_name,
        }

    @classmethod
    def from_env(cls, environ: Mapping[str, str], **overrides: Any) -> DbConfig:
        """Build from environment variables (see :data:`ENV_VARS`); ``overrides`` win (CLI flags).

        Errors name the environment variable, e.g.
        ``REFERENCE_IMPL_POOL_MAX='ten': expected an integer``.
        """
        values: dict[str, Any] = {}
        for f in fields(cls):
            var = ENV_VARS[f.name]
            raw = environ.get(var)
            if raw is None or raw.strip() == "":
                continue
            values[f.name] = _parse(var, raw.strip(), _PARSERS[str(f.type)])
        values.update({k: v for k, v in overrides.items() if v is not None})
        if "dsn" not in values:
            raise ConfigError("DATABASE_URL", None, "a postgresql:// URL (it is not set)")
        try:
            return cls(**values)
        except ConfigError as exc:
            var = ENV_VARS.get(exc.variable, exc.variable)
            raise ConfigError(var, exc.value, exc.expected) from None


def _parse(var: str, raw: str, parser: tuple[Callable[[str], Any], str]) -> Any:
    convert, expected = parser
    try:
        return convert(raw)
    except ValueError:
        raise ConfigError(var, redact_dsn(raw), expected) from None


_PARSERS: dict[str, tuple[Callable[[str], Any], str]] = {
    "str": (str, "a string"),
    "int": (int, "an integer"),
    "float": (float, "a number"),
}


def redact_dsn(dsn: str) -> str:
    """A DSN with its password replaced, for error messages."""
    scheme, sep, rest = dsn.partition("://")
    if not sep or "@" not in rest:
        return dsn
    creds, _, host = rest.rpartition("@")
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in creds else dsn
