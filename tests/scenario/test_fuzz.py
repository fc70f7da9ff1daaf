"""Property tests: no malformed scenario escapes as anything but a located ScenarioError."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.errors import ScenarioError
from harness.scenario import load_scenario, loads_scenario
from harness.scenario.writer import scenario_to_toml, toml_value

ROOT = Path(__file__).resolve().parents[2]
#: A rich, valid document: db-flap has a repeat, a window and params; every table resolved.
VALID: dict[str, Any] = tomllib.loads(scenario_to_toml(load_scenario(ROOT / "scenarios" / "db-flap.toml")))

_scalars = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.text(max_size=12),
    st.sampled_from(["10s", "2m", "500ms", "fast", "postgres", ">= 99%", "== 0", "", "-1s"]),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.text(min_size=1, max_size=8), inner, max_size=3)),
    max_leaves=6,
)


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    items = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) \
        else []
    for key, value in items:
        out.append((*prefix, key))
        out.extend(_paths(value, (*prefix, key)))
    return out


PATHS = _paths(VALID)
#: Keys checked against another: a bad value there may be reported at the other key.
_CROSS: dict[str, tuple[str, ...]] = {
    "duration": ("fault", "load"), "expect": ("expect_fail",), "slo": ("expect_fail",),
    "target": ("fault",), "postgres": ("fault",),
}


def _dump(doc: dict[str, Any]) -> str:
    return "\n".join(f"{toml_value(k) if not k.isidentifier() else k} = {toml_value(v)}"
                     for k, v in doc.items())


def _mutate(path: tuple[Any, ...], value: Any, add: bool) -> dict[str, Any]:
    doc = tomllib.loads(_dump(VALID))  # a deep copy
    node: Any = doc
    for key in path[:-1]:
        node = node[key]
    last = path[-1]
    if add and isinstance(node, dict):
        node[f"{last}_x"] = value
    else:
        node[last] = value
    return doc


def _check(text: str) -> None:
    try:
        loads_scenario(text, "fuzz.toml")
    except ScenarioError as exc:
        assert exc.file == "fuzz.toml" and str(exc).startswith("fuzz.toml: ")
        assert exc.problem


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(PATHS), _values, st.booleans())
def test_wrong_types_and_unknown_keys_name_the_key(
    path: tuple[Any, ...], value: Any, add: bool
) -> None:
    """Replacing any value with one of any type, or adding a key anywhere, either still
    validates or raises ScenarioError whose key path names where it went wrong."""
    text = _dump(_mutate(path, value, add))
    try:
        loads_scenario(text, "fuzz.toml")
    except ScenarioError as exc:
        assert exc.key, f"no key path in: {exc}"
        top = str(path[0]) + ("_x" if add and len(path) == 1 else "")
        blamed = re.split(r"[.\[]", exc.key)[0]
        assert blamed == top or blamed in _CROSS.get(top, ()), (
            f"mutating {path} blamed {exc.key!r}: {exc}")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_text_never_raises_anything_else(text: str) -> None:
    """Any text at all is a scenario (names default) or a ScenarioError, nothing else."""
    _check(text)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(_dump(VALID).splitlines()), max_size=25))
def test_shuffled_lines_never_raise_anything_else(lines: list[str]) -> None:
    """Lines of a valid file in any order and number: a scenario or a ScenarioError."""
    _check("\n".join(lines))


def test_valid_document_is_valid() -> None:
    """The fuzz base itself loads (so mutations start from a valid point)."""
    assert loads_scenario(_dump(VALID), "fuzz.toml").name == "db-flap"
