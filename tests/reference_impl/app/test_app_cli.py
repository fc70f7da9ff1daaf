"""``python -m reference_impl``: the command line, its exit codes and its messages."""

from __future__ import annotations

import sys

import pytest
from app_proc import REPO_ROOT, app_env

from harness.errors import ProvisionError
from harness.provision.process import run_command

pytestmark = pytest.mark.integration

CLOSED_PORT_DSN = "postgresql://postgres@127.0.0.1:1/none"


def _run(args: list[str], dsn: str = "", env: dict[str, str] | None = None) -> str:
    environment = app_env(dsn, env)
    if not dsn:
        environment.pop("DATABASE_URL")
    return run_command([sys.executable, "-m", "reference_impl", *args], env=environment,
                       cwd=REPO_ROOT, timeout=60)


def _fails(args: list[str], dsn: str = "", env: dict[str, str] | None = None) -> ProvisionError:
    with pytest.raises(ProvisionError) as caught:
        _run(args, dsn, env)
    return caught.value


def test_migrate_delegates_to_the_migrator(fresh_db: str) -> None:
    """``migrate up`` applies 001-003; ``migrate status`` lists them applied."""
    assert "applied: 001, 002, 003" in _run(["migrate", "up", "--dsn", fresh_db])
    status = _run(["migrate", "status", "--dsn", fresh_db])
    assert "current version: 003" in status and status.count("applied") >= 3


@pytest.mark.parametrize(("args", "env", "message"), [
    (["serve", "--port", "http"], {}, "--port: expected an integer in 0..65535, got 'http'"),
    (["serve"], {"REFERENCE_IMPL_PROFILE": "careless"}, "REFERENCE_IMPL_PROFILE: expected one of"),
    (["serve", "--chaos-hooks"], {"REFERENCE_IMPL_ADMIN_TOKEN": ""}, "REFERENCE_IMPL_ADMIN_TOKEN"),
])
def test_bad_configuration_exits_2_naming_the_setting(args: list[str], env: dict[str, str],
                                                      message: str) -> None:
    """A bad setting is exit code 2 with one line naming the flag or variable."""
    error = _fails(args, CLOSED_PORT_DSN, env)
    assert error.exit_code == 2 and message in (error.output_tail or "")


def test_missing_database_url_exits_2() -> None:
    """No --dsn and no DATABASE_URL: exit 2 naming DATABASE_URL."""
    error = _fails(["serve"])
    assert error.exit_code == 2 and "DATABASE_URL" in (error.output_tail or "")


def test_naive_exits_3_when_postgres_is_absent_at_boot() -> None:
    """The naive profile opens its pool inline: with no Postgres it cannot start (exit 3)."""
    error = _fails(["serve", "--port", "0", "--profile", "naive"], CLOSED_PORT_DSN)
    assert error.exit_code == 3


def test_unknown_command_exits_2() -> None:
    error = _fails(["launch"])
    assert error.exit_code == 2 and "expected serve or migrate" in (error.output_tail or "")
