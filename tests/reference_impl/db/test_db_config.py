"""DbConfig: the resilience budget as defaults, environment parsing, errors naming the variable."""

from __future__ import annotations

import pytest

from reference_impl.db.config import ENV_VARS, DbConfig, redact_dsn
from reference_impl.db.errors import ConfigError

DSN = "postgresql://app@127.0.0.1:5432/app"


def test_defaults_are_the_resilience_budget() -> None:
    """Unset variables give the CONVENTIONS.md figures, sent as server settings."""
    cfg = DbConfig.from_env({"DATABASE_URL": DSN})
    assert (cfg.pool_min, cfg.pool_max, cfg.acquire_timeout_s, cfg.command_timeout_s) == (
        2, 10, 0.2, 1.0)
    assert (cfg.statement_timeout_ms, cfg.lock_timeout_ms, cfg.connect_timeout_s) == (
        800, 200, 2.0)
    assert cfg.server_settings == {
        "statement_timeout": "800", "lock_timeout": "200", "application_name": "reference_impl",
    }


def test_environment_and_overrides() -> None:
    """Variables are parsed by type; keyword overrides (CLI flags) win; None overrides are unset."""
    env = {"DATABASE_URL": DSN, "REFERENCE_IMPL_POOL_MAX": " 20 ",
           "REFERENCE_IMPL_ACQUIRE_TIMEOUT_S": "0.5", "REFERENCE_IMPL_POOL_MIN": ""}
    cfg = DbConfig.from_env(env, dsn="postgresql://other@h/db", pool_min=None)
    assert cfg.pool_max == 20 and cfg.acquire_timeout_s == 0.5 and cfg.pool_min == 2
    assert cfg.dsn == "postgresql://other@h/db"
    assert set(ENV_VARS) == set(DbConfig.__dataclass_fields__)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "DATABASE_URL=None: expected a postgresql:// URL (it is not set)"),
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL='mysql://x': expected a postgresql://"),
        ({"REFERENCE_IMPL_POOL_MAX": "ten"}, "REFERENCE_IMPL_POOL_MAX='ten': expected an integer"),
        ({"REFERENCE_IMPL_POOL_MAX": "1"}, "REFERENCE_IMPL_POOL_MAX=1: expected an integer >= 1 "
                                           "and >= pool_min (2)"),
        ({"REFERENCE_IMPL_COMMAND_TIMEOUT_S": "nan"}, "REFERENCE_IMPL_COMMAND_TIMEOUT_S=nan"),
        ({"REFERENCE_IMPL_STATEMENT_TIMEOUT_MS": "1500"},
         "REFERENCE_IMPL_STATEMENT_TIMEOUT_MS=1500: expected milliseconds > 0 and below "
         "command_timeout_s"),
    ],
)
def test_invalid_values_name_the_variable(env: dict[str, str], message: str) -> None:
    """Each bad setting is a ConfigError whose message starts with the variable's name."""
    full = {"DATABASE_URL": DSN, **env} if env and "DATABASE_URL" not in env else env
    with pytest.raises(ConfigError) as info:
        DbConfig.from_env(full)
    assert str(info.value).startswith(message)


def test_dsn_password_is_redacted_in_errors() -> None:
    """A password in the URL never reaches an error message."""
    assert redact_dsn("postgresql://u:pw@h:1/d") == "postgresql://u:***@h:1/d"
    assert redact_dsn(DSN) == DSN
    with pytest.raises(ConfigError) as info:
        DbConfig("postgres-ish://u:pw@h/d")
    assert "pw" not in str(info.value)


def test_public_names_exist() -> None:
    """Every name a module of the database layer exports in __all__ is defined there."""
    import importlib

    for name in ("config", "errors", "manager", "metrics", "migrate", "migration_files", "naive",
                 "queries", "schema"):
        module = importlib.import_module(f"reference_impl.db.{name}")
        missing = [n for n in module.__all__ if not hasattr(module, n)]
        assert not missing, (name, missing)
