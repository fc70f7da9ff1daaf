"""The ``[[load.request]]`` entries: requests declared in the scenario, validated.

Each entry becomes a :class:`~harness.load.declared.RequestSpec`; every problem is a
ScenarioError at ``load.request[i].<key>``. Across entries: names are unique, every
``{name}`` placeholder that is not built in is captured by some request, and at least
one request has a weight (``on_start`` requests may have weight 0).
"""

from __future__ import annotations

import math
import re

from harness.brief import brief
from harness.errors import ScenarioError
from harness.load.declared import METHODS, RequestSpec, StatusSet, uses_captures
from harness.load.template import TemplateError
from harness.scenario.fields import Table, did_you_mean_text, type_name

__all__ = ["REQUEST_KEYS", "parse_requests"]

REQUEST_KEYS: tuple[str, ...] = (
    "name", "method", "path", "weight", "on_start", "headers", "json", "body", "write_key",
    "ok_status", "ok_json", "capture", "capture_first",
)
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")


def parse_requests(load: Table) -> tuple[RequestSpec, ...]:
    """The declared requests of the ``[load]`` table (empty when it declares none)."""
    if not load.has("request"):
        return ()
    raw = load.data["request"]
    if not isinstance(raw, list) or not raw:
        raise load.error("request", "expected [[load.request]] tables (at least one), got "
                         f"{type_name(raw)}")
    specs = [_parse_one(Table(load.file, f"{load.key('request')}[{i}]", entry, REQUEST_KEYS))
             for i, entry in enumerate(raw)]
    _check_together(load, specs)
    return tuple(specs)


def _parse_one(t: Table) -> RequestSpec:
    name = t.str_("name", "")
    if not _NAME.fullmatch(name):
        raise t.error("name", "expected a name of letters, digits, '_', '.' or '-' (it labels "
                      f"the request in requests.csv), got {brief(name)}")
    if not t.has("path"):
        raise t.error("path", "required: the request's path, e.g. \"/orders/{key}\"")
    body = t.data.get("body")
    if body is not None and not isinstance(body, str):
        raise t.error("body", f"expected a string (use json = {{...}} for JSON), got "
                      f"{type_name(body)}")
    capture = t.str_map("capture")
    if t.has("json"):
        _check_json(t, t.data["json"], "json")
    spec = RequestSpec(
        name=name,
        path=t.str_("path", ""),
        method=t.str_("method", "GET", METHODS),
        weight=t.int_("weight", 1, 0, 1_000_000),
        on_start=t.bool_("on_start", False),
        headers=t.str_map("headers"),
        json=t.data.get("json"),
        body=body,
        write_key=t.str_("write_key", ""),
        ok_status=_status(t),
        ok_json=t.str_("ok_json", ""),
        capture=capture,
        capture_first=t.str_map("capture_first"),
    )
    problems = spec.problems()
    if problems:
        key, problem = problems[0]
        raise t.error(key, problem)
    return spec


def _check_json(t: Table, value: object, where: str) -> None:
    """TOML values JSON cannot hold (dates and times) are refused where they are."""
    if isinstance(value, dict):
        for k, v in value.items():
            _check_json(t, v, f"{where}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _check_json(t, v, f"{where}[{i}]")
    elif not isinstance(value, str | int | float | bool):
        raise t.error(where, f"JSON cannot hold a TOML {type_name(value)}; write it as a string")
    elif isinstance(value, float) and not math.isfinite(value):
        raise t.error(where, f"JSON cannot hold {value!r} (only finite numbers); write it as a "
                      "string")


def _status(t: Table) -> StatusSet:
    raw = t.data.get("ok_status", ["2xx"])
    if not isinstance(raw, list):
        raise t.error("ok_status", f'expected an array such as ["2xx", 404], got {type_name(raw)}')
    try:
        return StatusSet.parse(raw)
    except ValueError as exc:
        raise t.error("ok_status", str(exc)) from None


def _check_together(load: Table, specs: list[RequestSpec]) -> None:
    seen: set[str] = set()
    captured = {name for s in specs for name in s.captured}
    for i, spec in enumerate(specs):
        where = f"{load.key('request')}[{i}]"
        if spec.name in seen:
            raise ScenarioError(load.file, f"{where}.name", f"{spec.name!r} is declared twice")
        seen.add(spec.name)
        try:
            needs = uses_captures(spec)
        except TemplateError as exc:  # problems() already reported it; keep mypy honest
            raise ScenarioError(load.file, where, str(exc)) from None
        for name in sorted(needs - captured):
            raise ScenarioError(load.file, where, f"{{{name}}} is neither a built-in placeholder "
                                "(key, user, worker, seq, uuid, int:LO:HI, choice:a|b) nor "
                                "captured by any request" + did_you_mean_text(name, captured))
    if not any(s.weight > 0 for s in specs):
        raise load.error("request", "at least one request needs a weight > 0")
