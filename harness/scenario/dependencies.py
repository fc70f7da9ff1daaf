"""``[[dependency]]`` entries and ``[postgres] listen``: the links the fault proxy can break.

Every upstream of the service sits behind its own proxy, named ``postgres`` for the
database and by the entry's ``name`` for the rest. This module parses the entries and
answers, for a network or Postgres fault, whether it can reach the service at all: a
service the harness does not start (kind ``url``) only goes through a proxy if it
connects to a fixed address, so faults on a proxy with a free port are refused.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from harness.errors import ScenarioError
from harness.scenario.fields import Table, type_name
from harness.scenario.schema import DependencySpec, PostgresSpec, TargetSpec

__all__ = [
    "DEPENDENCY_KEYS", "check_listen", "fault_reach_problem", "links", "parse_dependencies",
    "raise_reach_problem",
]

DEPENDENCY_KEYS: tuple[str, ...] = ("name", "upstream", "command", "workdir", "listen")
_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
#: Names a dependency cannot take: the database's proxy and the command-line placeholders.
_RESERVED = frozenset({"postgres", "port", "dsn"})
_HOSTPORT = re.compile(r"(?:\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})")


def check_listen(t: Table, key: str, value: str, loopback_only: bool = True) -> str:
    """``host:port`` (port 0: any free one), on loopback unless told otherwise."""
    match = _HOSTPORT.fullmatch(value)
    if not match or int(match.group(1)) > 65535:
        raise t.error(key, f'expected "host:port" such as "127.0.0.1:15432", got {value!r}')
    host = value.rsplit(":", 1)[0].strip("[]")
    if loopback_only and host not in ("127.0.0.1", "::1", "localhost"):
        raise t.error(key, f"the proxy listens on loopback only (127.0.0.1 or ::1), got {host!r}")
    return value


def parse_dependencies(top: Table) -> tuple[DependencySpec, ...]:
    """The ``[[dependency]]`` entries, validated (names unique, one of upstream/command)."""
    raw = top.data.get("dependency", [])
    if not isinstance(raw, list):
        raise top.error("dependency", f"expected [[dependency]] tables, got {type_name(raw)}")
    specs: list[DependencySpec] = []
    for i, entry in enumerate(raw):
        t = Table(top.file, f"dependency[{i}]", entry, DEPENDENCY_KEYS)
        name = t.str_("name", "")
        if not _NAME.fullmatch(name) or name in _RESERVED:
            raise t.error("name", "expected a lowercase name (letters, digits, '_'; not postgres, "
                          f"port or dsn): it names the proxy and the {{name}} placeholder, got "
                          f"{name!r}")
        if any(s.name == name for s in specs):
            raise t.error("name", f"{name!r} is declared twice")
        spec = DependencySpec(name=name, upstream=t.str_("upstream", ""),
                              command=t.str_("command", ""), workdir=t.str_("workdir", ""),
                              listen=check_listen(t, "listen", t.str_("listen", "127.0.0.1:0")))
        if bool(spec.upstream) == bool(spec.command):
            raise t.error("upstream", 'give upstream = "host:port" (already running) or command '
                          "(the harness starts it), exactly one")
        if spec.upstream:
            check_listen(t, "upstream", spec.upstream, loopback_only=False)
        if spec.workdir and not spec.command:
            raise t.error("workdir", "only used with command")
        specs.append(spec)
    return tuple(specs)


def links(postgres: PostgresSpec, dependencies: tuple[DependencySpec, ...]) -> dict[str, str]:
    """Proxy name -> its listen address, for every link of the run."""
    return {"postgres": postgres.listen, **{d.name: d.listen for d in dependencies}}


def _fixed(listen: str) -> bool:
    return not listen.endswith(":0")


def fault_reach_problem(requires: str, params: Mapping[str, object], target: TargetSpec,
                        postgres: PostgresSpec, proxies: Mapping[str, str]) -> tuple[str, str] | None:
    """(key, problem) when a fault cannot reach the service, else None."""
    if requires == "proxy":
        name = str(params.get("proxy", "postgres"))
        if name not in proxies:
            return "proxy", (f"no link named {name!r}; expected one of "
                             f"{', '.join(map(repr, proxies))} (declare others with [[dependency]])")
        if target.kind == "url" and not _fixed(proxies[name]):
            where = "[postgres] listen" if name == "postgres" else f"dependency {name!r}'s listen"
            return "proxy", (f"the service at {target.url} was started outside the harness, so it "
                             f"only goes through the {name!r} proxy if it connects to a fixed "
                             f'address: set {where} = "127.0.0.1:PORT" and point the service there')
    if requires in ("postgres_process", "postgres_sql") and target.kind == "url" \
            and postgres.provider == "embedded" and not _fixed(postgres.listen):
        return "action", (f"the service at {target.url} cannot reach the embedded Postgres this "
                          'fault acts on: set [postgres] listen = "127.0.0.1:PORT" and point the '
                          "service there")
    return None


def raise_reach_problem(t: Table, problem: tuple[str, str] | None) -> None:
    """Raise the problem at its key in the fault's table."""
    if problem is not None:
        key, text = problem
        raise ScenarioError(t.file, t.key(key), text)
