"""Write a resolved :class:`Scenario` back as TOML (the run directory's ``scenario.toml``).

Every default is written out, durations in their shortest exact form, so the file
says exactly what ran and :func:`~harness.scenario.loader.load_scenario` reads it back
to an equal scenario. No third-party TOML writer: the subset needed is small.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping

from harness.load.declared import RequestSpec
from harness.scenario.durations import format_duration
from harness.scenario.load_section import SHAPE_KEYS
from harness.scenario.schema import Fault, LoadSpec, Scenario

__all__ = ["scenario_to_toml", "toml_value"]


def toml_value(value: object) -> str:
    """One TOML value: string, bool, int, float, array or inline table."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"TOML cannot hold {value!r} here")
        return repr(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        items = ", ".join(f"{_key(k)} = {toml_value(v)}" for k, v in value.items())
        return "{ " + items + " }" if items else "{}"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def _key(key: str) -> str:
    bare = key and all(c.isalnum() or c in "-_" for c in key) and key.isascii()
    return key if bare else _string(key)


def _string(text: str) -> str:
    """A TOML basic string: JSON's escapes are TOML's, and TOML also bans a raw DEL."""
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _table(name: str, items: Mapping[str, object]) -> list[str]:
    lines = [f"[{name}]"] if name else []
    lines += [f"{_key(k)} = {toml_value(v)}" for k, v in items.items()]
    return lines + [""]


def _dur(seconds: float) -> str:
    return format_duration(seconds)


def _load_items(load: LoadSpec) -> dict[str, object]:
    items: dict[str, object] = {"users": load.users, "spawn_rate": load.spawn_rate}
    if not load.requests:
        items["mix"] = dict(load.mix)
    items["shape"] = load.shape
    durations = {"ramp_for", "step_every", "spike_at", "spike_for"}
    for key, owner in SHAPE_KEYS.items():
        if owner == load.shape:
            value = getattr(load, key)
            items[key] = _dur(value) if key in durations else value
    items |= {"wait_ms": list(load.wait_ms), "workers": load.workers,
              "expect_workers": load.expect_workers, "master_bind": load.master_bind,
              "expect_workers_timeout": _dur(load.expect_workers_timeout),
              "request_timeout": _dur(load.request_timeout),
              "write_retries": load.write_retries, "rooms": load.rooms}
    return items


def _request_items(request: RequestSpec) -> dict[str, object]:
    items = request.to_dict()
    if items["json"] is None:
        del items["json"]
    if items["body"] is None:
        del items["body"]
    return items


def _fault_items(fault: Fault) -> dict[str, object]:
    items: dict[str, object] = {"action": fault.action, "at": _dur(fault.at)}
    if fault.for_ is not None:
        items["for"] = _dur(fault.for_)
    if fault.repeat is not None:
        items["repeat"] = {"every": _dur(fault.repeat.every), "count": fault.repeat.count}
    for key, value in fault.params.items():
        if value is not None:
            items[key] = value
    return items


def scenario_to_toml(s: Scenario) -> str:
    """The resolved scenario ``s`` as TOML text."""
    t, pg, load = s.target, s.postgres, s.load
    lines = _table("", {
        "name": s.name, "description": s.description, "seed": s.seed,
        "duration": _dur(s.duration), "warmup": _dur(s.warmup), "cooldown": _dur(s.cooldown),
        "expect": s.expect, "expect_fail": list(s.expect_fail),
    })
    target: dict[str, object] = {
        "kind": t.kind, "profile": t.profile, "chaos_hooks": t.chaos_hooks, "env": dict(t.env),
        "auto_migrate": t.auto_migrate, "migrate_to": t.migrate_to, "command": t.command,
        "url": t.url, "health_path": t.health_path, "ready_path": t.ready_path,
        "stats_path": t.stats_path, "dsn_env": t.dsn_env, "locustfile": t.locustfile,
        "workdir": t.workdir, "unhandled_error_patterns": list(t.unhandled_error_patterns),
    }
    if t.kind != "url":  # the loader refuses it there: a url target listens where it was started
        target["listen_host"] = t.listen_host
    lines += _table("target", target)
    lines += _table("postgres", {"provider": pg.provider, "dsn": pg.dsn, "fsync": pg.fsync,
                                 "max_connections": pg.max_connections, "listen": pg.listen,
                                 "allow_schema_drift": pg.allow_schema_drift})
    for dep in s.dependencies:
        lines += ["[[dependency]]"] + _table("", {"name": dep.name, "upstream": dep.upstream,
                                                  "command": dep.command, "workdir": dep.workdir,
                                                  "listen": dep.listen})
    lines += _table("proxy", {"kind": s.proxy.kind, "url": s.proxy.url, "path": s.proxy.path})
    lines += _table("load", _load_items(load))
    for request in load.requests:
        lines += ["[[load.request]]"] + _table("", _request_items(request))
    for fault in s.faults:
        lines += ["[[fault]]"] + _table("", _fault_items(fault))
    lines += _table("observe", {"tick": _dur(s.observe.tick),
                                "memory_every": _dur(s.observe.memory_every),
                                "tracemalloc": s.observe.tracemalloc})
    phases: dict[str, dict[str, object]] = {}
    for slo in s.slos:
        phases.setdefault(slo.phase, {})[slo.metric] = slo.text
    for phase, items in phases.items():
        lines += _table(f"slo.{phase}", items)
    lines += _table("verify", {"abort_on_lost_write": s.verify.abort_on_lost_write,
                               "recovery_window": _dur(s.verify.recovery_window),
                               "recovery_min_ok": s.verify.recovery_min_ok})
    lines += _table("verify.writes", {"sql": s.verify.writes_sql})
    return "\n".join(lines)
