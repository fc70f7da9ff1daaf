"""The role the service connects as on a Postgres the harness provisions: not a superuser.

The embedded server's only role is its superuser, which the harness keeps for itself
(faults, the observer's ``pg_stat_activity`` reads, the final read). A service connecting
as that superuser would be unlike any production set-up, and it would also take the slots
Postgres keeps for superusers (``superuser_reserved_connections``): with
``postgres.set_max_connections`` lowered to 8, the service's pool filled all eight, never
saw ``53300 too many clients``, and the harness could not connect to restore the setting.

So the service gets a login role of its own, with a password made for this run (registered
with the redactor), the right to create its tables in ``public`` (PostgreSQL 15 no longer
grants it to everyone) and nothing else. Its migrations run as that role, so it owns its
tables; the superuser can still read and alter them.
"""

from __future__ import annotations

import secrets
from urllib.parse import quote

from harness.provision.pg_probe import execute
from harness.redact import register_secret

__all__ = ["APP_ROLE", "create_app_role", "with_credentials"]

#: The service's login role on a Postgres the harness provisioned.
APP_ROLE = "chaos_app"


def with_credentials(dsn: str, user: str, password: str) -> str:
    """``dsn`` with its user and password replaced (host, port, database and query kept)."""
    scheme, rest = dsn.split("://", 1)
    hostpart = rest.rsplit("@", 1)[-1]
    return f"{scheme}://{quote(user, safe='')}:{quote(password, safe='')}@{hostpart}"


def create_app_role(admin_dsn: str, role: str = APP_ROLE) -> str:
    """Create ``role`` (login, not a superuser, may create in ``public``) through the
    superuser's ``admin_dsn``; returns the DSN that connects as it, directly."""
    password = secrets.token_urlsafe(18)  # [A-Za-z0-9_-]: safe inside a SQL literal
    register_secret(password)
    execute(admin_dsn, f"create role {role} login nosuperuser nocreatedb nocreaterole "
                       f"password '{password}'")
    execute(admin_dsn, f"grant create on schema public to {role}")
    return with_credentials(admin_dsn, role, password)
