"""The service's own role on the embedded Postgres: it logs in, creates and owns its tables,
is no superuser (so the slots Postgres reserves for superusers stay the harness'), and its
password is masked by the redactor."""

from __future__ import annotations

import asyncpg
import pytest

from harness.provision.app_role import APP_ROLE, create_app_role, with_credentials
from harness.provision.pg_probe import execute, fetch
from harness.redact import MASK, redact

pytestmark = pytest.mark.integration


def test_the_app_role_owns_its_tables_and_is_no_superuser(fresh_db: str) -> None:
    role = f"{APP_ROLE}_t{abs(hash(fresh_db)) % 10_000}"  # roles are cluster-wide: one per test
    try:
        app_dsn = create_app_role(fresh_db, role)
        assert fetch(app_dsn, "select current_user")[0][0] == role
        assert fetch(app_dsn, "select rolsuper from pg_roles where rolname = current_user")[0][0] \
            is False
        execute(app_dsn, "create table owned_by_app (id int)")
        owner = fetch(fresh_db, "select tableowner from pg_tables where tablename = 'owned_by_app'")
        assert owner[0][0] == role
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            execute(app_dsn, "alter system set max_connections = 8")
        password = app_dsn.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]
        assert password not in redact(f"connecting with {app_dsn}") and MASK in redact(password)
    finally:
        execute(fresh_db, "drop table if exists owned_by_app")
        execute(fresh_db, f"revoke create on schema public from {role}")
        execute(fresh_db, f"drop role if exists {role}")


def test_credentials_are_replaced_and_escaped_the_rest_kept() -> None:
    dsn = "postgresql://postgres@127.0.0.1:5432/db?sslmode=disable"
    assert with_credentials(dsn, "app", "p@ss:w/rd") == \
        "postgresql://app:p%40ss%3Aw%2Frd@127.0.0.1:5432/db?sslmode=disable"
    assert with_credentials("postgresql://u:old@h:1/d", "a", "b") == "postgresql://a:b@h:1/d"
