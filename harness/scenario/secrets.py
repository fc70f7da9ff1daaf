"""The secrets a scenario carries: registered for redaction, masked in the run directory's
``scenario.toml``, and filled back in from the environment when a recorded scenario is run
again (``chaosharness replay``).

``scenario.toml`` is written through :func:`harness.redact.redact`, so a DSN's password, a
``[target.env]`` value whose name looks secret (or that holds a DSN's password) and any
other secret form read ``***`` there. A replay takes them from the environment:

* ``[postgres] dsn``: its password from ``PGPASSWORD`` (the libpq variable);
* ``[target.env] NAME``: from the environment variable ``NAME`` itself;
* a secret elsewhere (a target or dependency command line, a request's header) cannot be
  told apart: the replay refuses and names the key; run the original scenario file with
  the recorded seed (``--seed``) instead.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from types import MappingProxyType
from urllib.parse import quote

from harness.errors import ScenarioError
from harness.redact import MASK, is_secret_key, secrets_in_dsn
from harness.scenario.schema import Scenario

__all__ = ["restore_secrets", "scenario_secrets"]

_MASKED_URL_PASSWORD = re.compile(r"(?P<head>://[^:/@\s]*:)\*\*\*@")
_MASKED_KEYWORD = re.compile(r"(?P<head>\bpassword[ \t]*=[ \t]*)(?P<q>'?)\*\*\*(?P=q)", re.IGNORECASE)


def scenario_secrets(s: Scenario) -> list[str]:
    """Every secret string ``s`` holds that a writer must never let through."""
    found = secrets_in_dsn(s.postgres.dsn)
    for key, value in s.target.env.items():
        if is_secret_key(key):
            found.append(value)
        found += secrets_in_dsn(value)
    return [f for f in dict.fromkeys(found) if f and f != MASK]


def _restore_dsn(dsn: str, environ: Mapping[str, str], file: str) -> str:
    if MASK not in dsn:
        return dsn
    password = environ.get("PGPASSWORD")
    if not password:
        raise ScenarioError(file, "postgres.dsn", "the recorded DSN's password was redacted: "
                            "set PGPASSWORD in the environment to run it again")
    keyword = "'" + password.replace("\\", "\\\\").replace("'", "\\'") + "'"
    dsn = _MASKED_URL_PASSWORD.sub(lambda m: f"{m['head']}{quote(password, safe='')}@", dsn)
    dsn = _MASKED_KEYWORD.sub(lambda m: f"{m['head']}{keyword}", dsn)
    if MASK in dsn:
        raise ScenarioError(file, "postgres.dsn", f"holds a redacted value ({MASK}) other than "
                            "its password: run the original scenario file instead")
    return dsn


def restore_secrets(s: Scenario, environ: Mapping[str, str], file: str = "scenario.toml") -> Scenario:
    """``s`` with every redacted (``***``) secret filled in from ``environ``; a scenario
    without one is returned as it is. Raises :class:`ScenarioError` naming the key and the
    variable to set when one cannot be filled in."""
    env = dict(s.target.env)
    for key, value in env.items():
        if MASK in value:
            if key not in environ:
                raise ScenarioError(file, f"target.env.{key}", "its recorded value was redacted: "
                                    f"set {key} in the environment to run it again")
            env[key] = environ[key]
    target = dataclasses.replace(s.target, env=MappingProxyType(env))
    postgres = dataclasses.replace(s.postgres, dsn=_restore_dsn(s.postgres.dsn, environ, file))
    elsewhere = {"target.command": target.command, "target.url": target.url,
                 "proxy.url": s.proxy.url,
                 **{f"dependency[{i}].command": d.command for i, d in enumerate(s.dependencies)},
                 **{f"load.request[{i}]": json.dumps(r.to_dict(), ensure_ascii=False)
                    for i, r in enumerate(s.load.requests)}}
    for key, value in elsewhere.items():
        if MASK in value:
            raise ScenarioError(file, key, f"held a secret, redacted ({MASK}) in the recorded "
                                "scenario: run the original scenario file (same seed: --seed "
                                f"{s.seed}), or pass the secret through [target.env]")
    if target == s.target and postgres == s.postgres:
        return s
    return dataclasses.replace(s, target=target, postgres=postgres)
