"""Unit tests of the reference app's configuration: precedence and errors that name their source."""

from __future__ import annotations

import pytest

from reference_impl.config import SETTINGS, ConfigError, load_config

DSN = "postgresql://app:s3cret@127.0.0.1:5432/app"


def test_flag_beats_env_beats_default() -> None:
    """A flag wins over its variable, the variable over the default."""
    env = {"DATABASE_URL": DSN, "REFERENCE_IMPL_PORT": "9000", "REFERENCE_IMPL_PROFILE": "naive"}
    assert load_config({}, env).port == 9000
    assert load_config({"port": "0"}, env).port == 0
    assert load_config({}, {"DATABASE_URL": DSN}).port == 8000
    assert load_config({"profile": "resilient"}, env).profile == "resilient"
    assert load_config({}, env).profile == "naive"


def test_dsn_flag_overrides_database_url_and_is_redacted() -> None:
    """--dsn replaces DATABASE_URL; the public view never shows the password or the token."""
    env = {"DATABASE_URL": "postgresql://other/db",
           "REFERENCE_IMPL_ADMIN_TOKEN": "zq-7-secret-token"}
    config = load_config({"dsn": DSN}, env)
    assert config.dsn == DSN
    public = config.public_dict()
    assert "s3cret" not in repr(public) and "zq-7-secret-token" not in repr(public)
    assert "s3cret" not in repr(config)
    assert public["dsn"] == "postgresql://app:***@127.0.0.1:5432/app"


@pytest.mark.parametrize(
    ("flags", "env", "source"),
    [
        ({"port": "http"}, {}, "--port"),
        ({}, {"REFERENCE_IMPL_PORT": "70000"}, "REFERENCE_IMPL_PORT"),
        ({}, {"REFERENCE_IMPL_PROFILE": "careless"}, "REFERENCE_IMPL_PROFILE"),
        ({}, {"REFERENCE_IMPL_CHAOS_HOOKS": "maybe"}, "REFERENCE_IMPL_CHAOS_HOOKS"),
        ({}, {"REFERENCE_IMPL_DRAIN_TIMEOUT_S": "-1"}, "REFERENCE_IMPL_DRAIN_TIMEOUT_S"),
        ({}, {"REFERENCE_IMPL_MEMORY_WARNING_MB": "2000"}, "REFERENCE_IMPL_MEMORY_CRITICAL_MB"),
        ({"chaos_hooks": True}, {}, "REFERENCE_IMPL_ADMIN_TOKEN"),
        ({"dsn": "mysql://x/y"}, {}, "--dsn"),
    ],
)
def test_bad_values_name_their_source(flags: dict[str, object], env: dict[str, str],
                                      source: str) -> None:
    """Each bad value raises ConfigError whose message starts with the flag or variable."""
    with pytest.raises(ConfigError) as caught:
        load_config(flags, {"DATABASE_URL": DSN, **env})
    assert str(caught.value).startswith(source), str(caught.value)


def test_missing_database_url_and_bad_pool_name_the_variable() -> None:
    """Database settings are validated by DbConfig, which names the variable."""
    with pytest.raises(ValueError, match="DATABASE_URL"):
        load_config({}, {})
    with pytest.raises(ValueError, match="REFERENCE_IMPL_POOL_MAX"):
        load_config({}, {"DATABASE_URL": DSN, "REFERENCE_IMPL_POOL_MAX": "ten"})


def test_gate_defaults_follow_the_pool() -> None:
    """The concurrency gate defaults to the pool's max with a queue four times that."""
    config = load_config({}, {"DATABASE_URL": DSN, "REFERENCE_IMPL_POOL_MAX": "7"})
    assert (config.gate_limit, config.gate_waiting) == (7, 28)
    config = load_config({"gate_concurrency": 3}, {"DATABASE_URL": DSN})
    assert (config.gate_limit, config.gate_waiting) == (3, 12)
    config = load_config({"gate_concurrency": 3, "gate_queue": 5}, {"DATABASE_URL": DSN})
    assert (config.gate_limit, config.gate_waiting) == (3, 5)


def test_every_setting_has_a_prefixed_variable_and_a_flag() -> None:
    """The settings table is the one source: unique names, REFERENCE_IMPL_ variables."""
    names = [s.name for s in SETTINGS]
    assert len(names) == len(set(names))
    assert all(s.env.startswith("REFERENCE_IMPL_") and s.flag.startswith("--") for s in SETTINGS)


def test_health_probe_settings() -> None:
    """The database health probe's cadence, timeout and threshold: defaults, env, flags."""
    config = load_config({}, {"DATABASE_URL": DSN})
    assert (config.health_interval_s, config.health_timeout_s, config.health_failures) == (
        0.5, 0.8, 2)
    config = load_config({"health_failures": "3"}, {
        "DATABASE_URL": DSN, "REFERENCE_IMPL_HEALTH_INTERVAL_S": "0.25",
        "REFERENCE_IMPL_HEALTH_TIMEOUT_S": "0.4", "REFERENCE_IMPL_HEALTH_FAILURES": "5"})
    assert (config.health_interval_s, config.health_timeout_s, config.health_failures) == (
        0.25, 0.4, 3)
    with pytest.raises(ConfigError, match="REFERENCE_IMPL_HEALTH_INTERVAL_S"):
        load_config({}, {"DATABASE_URL": DSN, "REFERENCE_IMPL_HEALTH_INTERVAL_S": "0"})
