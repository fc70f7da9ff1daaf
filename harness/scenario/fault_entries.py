"""The ``[[fault]]`` entries: action from the catalogue, timing, repeat, parameters."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from harness.brief import brief
from harness.errors import ScenarioError
from harness.faults.catalog import FAULTS, FaultSpec, ParamSpec
from harness.scenario.dependencies import fault_reach_problem, raise_reach_problem
from harness.scenario.durations import format_duration, parse_duration
from harness.scenario.fields import Table, did_you_mean_text, number_text, type_name
from harness.scenario.schema import Fault, PostgresSpec, Repeat, TargetSpec, frozen_map

__all__ = ["BASE_KEYS", "parse_faults"]

#: Keys every fault entry may have; the rest are the action's parameters.
BASE_KEYS: tuple[str, ...] = ("at", "for", "action", "repeat")


def parse_faults(
    top: Table, duration: float, target: TargetSpec, postgres: PostgresSpec,
    proxies: Mapping[str, str] | None = None,
) -> tuple[Fault, ...]:
    """Every ``[[fault]]`` entry, validated against the catalogue, the run's duration and the
    links the proxy can break (``proxies``: name -> listen; default just Postgres')."""
    raw = top.data.get("fault", [])
    if not isinstance(raw, list):
        raise top.error("fault", f"expected an array of tables [[fault]], got {type_name(raw)}")
    links = proxies if proxies is not None else {"postgres": postgres.listen}
    return tuple(_parse_fault(top.file, i, entry, duration, target, postgres, links)
                 for i, entry in enumerate(raw))


def _parse_fault(
    file: str, index: int, entry: object, duration: float, target: TargetSpec,
    postgres: PostgresSpec, proxies: Mapping[str, str],
) -> Fault:
    path = f"fault[{index}]"
    if not isinstance(entry, dict):
        raise ScenarioError(file, path, f"expected a table, got {type_name(entry)}")
    if "action" not in entry:
        raise ScenarioError(file, f"{path}.action", "required: a fault action such as "
                            '"postgres.restart" (`chaosharness list` shows them all)')
    action = entry["action"]
    spec = FAULTS.get(action) if isinstance(action, str) else None
    if spec is None:
        raise ScenarioError(file, f"{path}.action", f"unknown fault action {brief(action)}"
                            + did_you_mean_text(str(action), FAULTS)
                            + "; `chaosharness list` shows them all")
    t = Table(file, path, entry, (*BASE_KEYS, *spec.params))
    if "at" not in entry:
        raise t.error("at", 'required: when the fault starts, e.g. "20s"')
    at = t.duration("at", 0.0)
    for_ = t.optional_duration("for")
    repeat = _parse_repeat(t)
    _check_window(t, spec, at, for_, repeat, duration)
    _check_requirement(t, spec, target, postgres)
    params = {name: _param(t, name, p, spec) for name, p in spec.params.items()}
    raise_reach_problem(t, fault_reach_problem(spec.requires, params, target, postgres, proxies))
    return Fault(index=index, action=spec.name, at=at, for_=for_, repeat=repeat,
                 params=frozen_map(params))


def _parse_repeat(t: Table) -> Repeat | None:
    if not t.has("repeat"):
        return None
    r = t.table("repeat", ("every", "count"))
    for key in ("every", "count"):
        if not r.has(key):
            raise r.error(key, "required in repeat = {every = ..., count = ...}")
    every = r.duration("every", 0.0)
    if every <= 0:
        raise r.error("every", "must be > 0")
    return Repeat(every=every, count=r.int_("count", 1, 1, 100_000))


def _check_window(
    t: Table, spec: FaultSpec, at: float, for_: float | None, repeat: Repeat | None,
    duration: float,
) -> None:
    limit = f"duration ({format_duration(duration)})"
    if spec.needs_window and for_ is None:
        raise t.error("for", f"required by {spec.name}: how long the fault lasts")
    if spec.instant and for_ is not None:
        raise t.error("for", f"not used by {spec.name}: it is instant, its effect ends by itself")
    if for_ is not None and for_ <= 0:
        raise t.error("for", "must be > 0")
    if at > duration:
        raise t.error("at", f"must be <= {limit}, got {format_duration(at)}")
    if repeat is None:
        if for_ is not None and at + for_ > duration:
            raise t.error("for", f"at + for ({format_duration(at + for_)}) must be <= {limit}")
        return
    if spec.window == "optional" and for_ is None:
        raise t.error("repeat", f"needs `for`: without it {spec.name} lasts until the run ends")
    if for_ is not None and repeat.every <= for_:
        raise t.error("repeat.every", f"must be > for ({format_duration(for_)}): "
                      "repetitions would overlap")
    last_start = at + (repeat.count - 1) * repeat.every
    last_end = last_start + (for_ or 0.0)
    if last_end > duration:
        raise t.error("repeat.count", f"the last repetition ends at {format_duration(last_end)}, "
                      f"after the {limit}")


def _check_requirement(
    t: Table, spec: FaultSpec, target: TargetSpec, postgres: PostgresSpec
) -> None:
    need = spec.requires
    if need == "app_process" and not target.has_process:
        raise t.error("action", f'{spec.name} needs a target the harness starts (kind = '
                      f'"reference" or "command"), not kind = "{target.kind}"')
    if need == "app_hooks" and not (target.has_process and target.chaos_hooks):
        raise t.error("action", f"{spec.name} needs the app's chaos hooks: [target] "
                      "chaos_hooks = true and a target the harness starts")
    if need == "postgres_process" and postgres.provider != "embedded":
        raise t.error("action", f"{spec.name} acts on the Postgres process: it needs "
                      '[postgres] provider = "embedded"')
    if spec.name == "postgres.drift_schema" and postgres.provider != "embedded" \
            and not postgres.allow_schema_drift:
        raise t.error("action", f"{spec.name} renames a column of a database the harness does "
                      "not own (a harness killed mid-run leaves it renamed; the rollback SQL is "
                      "written to the run directory's rollback.sql): use the embedded provider, "
                      "or opt in with [postgres] allow_schema_drift = true")


def _param(t: Table, name: str, p: ParamSpec, spec: FaultSpec) -> object:
    if not t.has(name):
        if p.required:
            raise t.error(name, f"required by {spec.name}: {p.description}")
        return p.default
    value: Any = t.data[name]
    if p.type == "duration":
        try:
            value = parse_duration(value)
        except ValueError as exc:
            raise t.error(name, str(exc)) from None
    elif not _is_type(value, p.type):
        raise t.error(name, f"expected {p.type} ({p.description}), got {type_name(value)} "
                      f"{brief(value)}")
    if p.type == "float":
        value = float(value)
    if p.choices is not None and value not in p.choices:
        raise t.error(name, f"expected one of {', '.join(map(repr, p.choices))}, got {brief(value)}"
                      + did_you_mean_text(str(value), p.choices))
    if p.min is not None and value < p.min:
        raise t.error(name, f"must be >= {number_text(p.min)}, got {brief(value)}")
    if p.max is not None and value > p.max:
        raise t.error(name, f"must be <= {number_text(p.max)}, got {brief(value)}")
    return value


def _is_type(value: object, type_: str) -> bool:
    if isinstance(value, bool):
        return type_ == "bool"
    if type_ == "int":
        return isinstance(value, int)
    if type_ == "float":
        return isinstance(value, int | float) and math.isfinite(value)
    if type_ == "str":
        return isinstance(value, str)
    return False
