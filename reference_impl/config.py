"""The reference app's configuration, declared once and resolved in one function.

Precedence: command-line flag > environment variable > default. Every setting
is one ``Setting`` row below (field name, environment variable, parser,
default), so the CLI, the environment and the docs cannot drift apart. The
result is a frozen ``AppConfig``; constructing it has no side effects.

Database settings (pool sizes, timeouts) belong to ``reference_impl.db.config.
DbConfig`` and are read by its own ``from_env``; the ``--dsn`` flag, when given,
overrides ``DATABASE_URL`` there.

A bad value raises ``ConfigError`` naming the flag or variable it came from and
what was expected, e.g. ``REFERENCE_IMPL_PORT: expected an integer in 0..65535,
got 'http'``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from reference_impl.db.config import DbConfig
from reference_impl.db.errors import ConfigError as DbConfigError

__all__ = ["SETTINGS", "AppConfig", "ConfigError", "Profile", "Setting", "load_config"]

Profile = Literal["resilient", "naive"]
PROFILES: tuple[str, ...] = ("resilient", "naive")
ENV_PREFIX = "REFERENCE_IMPL_"
MB = 1024 * 1024
GATE_QUEUE_FACTOR = 4  # requests that may wait for the gate, per slot (see AppConfig.gate_waiting)


class ConfigError(ValueError):
    """A setting has a bad value; the message names its source (flag or variable)."""

    def __init__(self, source: str, expected: str, got: object) -> None:
        self.source = source
        self.expected = expected
        self.got = got
        super().__init__(f"{source}: expected {expected}, got {got!r}")


@dataclass(frozen=True)
class AppConfig:
    """Every setting of the reference app (see ``SETTINGS`` for sources and defaults)."""

    db: DbConfig = field(repr=False)  # its repr holds the DSN with any password
    host: str = "127.0.0.1"
    port: int = 8000
    profile: Profile = "resilient"
    chaos_hooks: bool = False
    admin_token: str | None = field(default=None, repr=False)
    auto_migrate: bool = True
    plant_leak: bool = False
    # Planted faults for the harness' negative controls; off unless set (see
    # app/planted_write_behind.py, app/planted_connection_leak.py, app/planted_bad_writes.py).
    plant_write_behind: bool = False
    plant_reject_after_commit: int = 0
    plant_ghost_write: int = 0
    plant_connection_leak: int = 0
    plant_connection_leak_max: int = 30
    drain_grace_s: float = 0.5
    drain_timeout_s: float = 10.0
    request_deadline_s: float = 2.0
    slow_request_s: float = 0.5
    gate_concurrency: int = 0
    gate_queue: int = 0
    memory_warning_bytes: int = 512 * MB
    memory_critical_bytes: int = 1024 * MB
    memory_interval_s: float = 5.0
    # The resilient profile's background database probe (resilience.health_monitor): every
    # 0.5 s; 0.8 s to answer tolerates a 300 ms network latency yet two timeouts (a frozen
    # server) still turn readiness 503 within about 2 s; 2 failures in a row mean down.
    health_interval_s: float = 0.5
    health_timeout_s: float = 0.8
    health_failures: int = 2
    task_max_queue: int = 1000
    task_concurrency: int = 4
    startup_timeout_s: float = 0.0
    log_level: str = "info"

    @property
    def dsn(self) -> str:
        """The database URL (from ``--dsn`` or ``DATABASE_URL``)."""
        return str(self.db.dsn)

    @property
    def gate_limit(self) -> int:
        """Requests served at once; 0 in the settings means "the pool's max size"."""
        return self.gate_concurrency or int(self.db.pool_max)

    @property
    def gate_waiting(self) -> int:
        """Requests allowed to wait for a slot; 0 means ``GATE_QUEUE_FACTOR`` x the gate.

        A waiting request is bounded by the request deadline anyway; the queue only
        decides who is shed at once. At one gate's worth, ten times the expected users
        (load-10x) were shed at 1.6 % with p99 at 46 ms: shedding long before latency
        was at risk. Four gates' worth holds them (p99 77 ms) and pool exhaustion still
        answers fast 503s.
        """
        return self.gate_queue or GATE_QUEUE_FACTOR * self.gate_limit

    def public_dict(self) -> dict[str, Any]:
        """The settings without secrets (no admin token, no DSN password), for /stats and logs."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "db"}
        out["admin_token"] = "set" if self.admin_token else None
        out["dsn"] = _redact_dsn(self.dsn)
        return out


def _redact_dsn(dsn: str) -> str:
    """``postgresql://u:secret@h/db`` -> ``postgresql://u:***@h/db``."""
    scheme, sep, rest = dsn.partition("://")
    if not sep or "@" not in rest:
        return dsn
    creds, _, hostpart = rest.rpartition("@")
    user, colon, _pw = creds.partition(":")
    return f"{scheme}://{user}{':***' if colon else ''}@{hostpart}"


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(text)


def _parse_port(text: str) -> int:
    port = int(text)
    if not 0 <= port <= 65535:
        raise ValueError(text)
    return port


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError(text)
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise ValueError(text)
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise ValueError(text)
    return value


def _non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise ValueError(text)
    return value


def _megabytes(text: str) -> int:
    return int(_positive_float(text) * MB)


def _profile(text: str) -> str:
    if text not in PROFILES:
        raise ValueError(text)
    return text


def _log_level(text: str) -> str:
    if text.lower() not in ("critical", "error", "warning", "info", "debug"):
        raise ValueError(text)
    return text.lower()


@dataclass(frozen=True)
class Setting:
    """One setting: the ``AppConfig`` field, its variable, how to parse it, what it expects."""

    name: str
    env: str
    parse: Callable[[str], Any]
    expected: str

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


SETTINGS: tuple[Setting, ...] = (
    Setting("host", ENV_PREFIX + "HOST", str, "a host name or address"),
    Setting("port", ENV_PREFIX + "PORT", _parse_port, "an integer in 0..65535"),
    Setting("profile", ENV_PREFIX + "PROFILE", _profile, "one of resilient, naive"),
    Setting("chaos_hooks", ENV_PREFIX + "CHAOS_HOOKS", _parse_bool, "a boolean (1/0/true/false)"),
    Setting("admin_token", ENV_PREFIX + "ADMIN_TOKEN", str, "a token string"),
    Setting("auto_migrate", ENV_PREFIX + "AUTO_MIGRATE", _parse_bool, "a boolean (1/0/true/false)"),
    Setting("plant_leak", ENV_PREFIX + "PLANT_LEAK", _parse_bool, "a boolean (1/0/true/false)"),
    Setting("plant_write_behind", ENV_PREFIX + "PLANT_WRITE_BEHIND", _parse_bool,
            "a boolean (1/0/true/false; acknowledge writes before they commit)"),
    Setting("plant_reject_after_commit", ENV_PREFIX + "PLANT_REJECT_AFTER_COMMIT",
            _non_negative_int, "an integer >= 0 (every N-th new post commits, then answers 422)"),
    Setting("plant_ghost_write", ENV_PREFIX + "PLANT_GHOST_WRITE", _non_negative_int,
            "an integer >= 0 (every N-th new post also writes a row under a key never sent)"),
    Setting("plant_connection_leak", ENV_PREFIX + "PLANT_CONNECTION_LEAK", _non_negative_int,
            "an integer >= 0 (keep one extra connection per N requests; 0: off)"),
    Setting("plant_connection_leak_max", ENV_PREFIX + "PLANT_CONNECTION_LEAK_MAX",
            _non_negative_int, "an integer >= 0 (connections the planted leak keeps at most)"),
    Setting("drain_grace_s", ENV_PREFIX + "DRAIN_GRACE_S", _non_negative_float,
            "seconds >= 0 (readiness 503 before the listener closes)"),
    Setting("drain_timeout_s", ENV_PREFIX + "DRAIN_TIMEOUT_S", _non_negative_float,
            "seconds >= 0"),
    Setting("request_deadline_s", ENV_PREFIX + "REQUEST_DEADLINE_S", _positive_float,
            "seconds > 0"),
    Setting("slow_request_s", ENV_PREFIX + "SLOW_REQUEST_S", _positive_float, "seconds > 0"),
    Setting("gate_concurrency", ENV_PREFIX + "GATE_CONCURRENCY", _non_negative_int,
            "an integer >= 0 (0: the pool's max)"),
    Setting("gate_queue", ENV_PREFIX + "GATE_QUEUE", _non_negative_int,
            f"an integer >= 0 (0: {GATE_QUEUE_FACTOR}x the gate)"),
    Setting("memory_warning_bytes", ENV_PREFIX + "MEMORY_WARNING_MB", _megabytes,
            "megabytes > 0"),
    Setting("memory_critical_bytes", ENV_PREFIX + "MEMORY_CRITICAL_MB", _megabytes,
            "megabytes > 0"),
    Setting("memory_interval_s", ENV_PREFIX + "MEMORY_INTERVAL_S", _positive_float,
            "seconds > 0"),
    Setting("health_interval_s", ENV_PREFIX + "HEALTH_INTERVAL_S", _positive_float,
            "seconds > 0 (between database health probes; resilient profile)"),
    Setting("health_timeout_s", ENV_PREFIX + "HEALTH_TIMEOUT_S", _positive_float,
            "seconds > 0 (one database health probe)"),
    Setting("health_failures", ENV_PREFIX + "HEALTH_FAILURES", _positive_int,
            "an integer > 0 (failed probes in a row that make readiness 503)"),
    Setting("task_max_queue", ENV_PREFIX + "TASK_MAX_QUEUE", _positive_int, "an integer > 0"),
    Setting("task_concurrency", ENV_PREFIX + "TASK_CONCURRENCY", _positive_int, "an integer > 0"),
    Setting("startup_timeout_s", ENV_PREFIX + "STARTUP_TIMEOUT_S", _non_negative_float,
            "seconds >= 0 (0: retry for ever)"),
    Setting("log_level", ENV_PREFIX + "LOG_LEVEL", _log_level,
            "one of critical, error, warning, info, debug"),
)


def _resolve_setting(
    setting: Setting, flags: Mapping[str, object], environ: Mapping[str, str]
) -> tuple[bool, Any]:
    """(found, value) for one setting: the flag if given, else the variable, else not found."""
    if flags.get(setting.name) is not None:
        raw, source = flags[setting.name], setting.flag
    elif setting.env in environ:
        raw, source = environ[setting.env], setting.env
    else:
        return False, None
    if not isinstance(raw, str):
        return True, raw  # already typed by argparse (bools, ints)
    try:
        return True, setting.parse(raw)
    except ValueError:
        raise ConfigError(source, setting.expected, raw) from None


def _db_config(flags: Mapping[str, object], environ: Mapping[str, str]) -> DbConfig:
    """The database settings: ``DbConfig.from_env`` with ``--dsn`` taking precedence.

    ``DbConfig`` names the variable in its errors; a bad ``--dsn`` is renamed to the flag.
    """
    dsn = flags.get("dsn")
    try:
        return DbConfig.from_env(environ, dsn=None if dsn is None else str(dsn))
    except DbConfigError as exc:
        if dsn is not None and exc.variable == "DATABASE_URL":
            raise ConfigError("--dsn", exc.expected, exc.value) from None
        raise


def load_config(
    flags: Mapping[str, object] | None = None, environ: Mapping[str, str] | None = None
) -> AppConfig:
    """Resolve flags > environment > defaults into a validated, frozen ``AppConfig``.

    ``flags`` maps ``AppConfig`` field names (and ``dsn``) to values, ``None``
    meaning "not given". ``environ`` defaults to ``os.environ``.
    """
    flags = flags or {}
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        found, value = _resolve_setting(setting, flags, environ)
        if found:
            values[setting.name] = value
    profile = values.get("profile", "resilient")
    if profile not in PROFILES:
        raise ConfigError("--profile", "one of resilient, naive", profile)
    config = AppConfig(db=_db_config(flags, environ), **values)
    if config.memory_critical_bytes <= config.memory_warning_bytes:
        raise ConfigError(
            ENV_PREFIX + "MEMORY_CRITICAL_MB",
            f"more than the warning threshold ({config.memory_warning_bytes // MB} MB)",
            config.memory_critical_bytes // MB,
        )
    if config.chaos_hooks and not config.admin_token:
        raise ConfigError(
            ENV_PREFIX + "ADMIN_TOKEN", "a token when --chaos-hooks is on", config.admin_token
        )
    return config
