"""Property tests: no malformed scenario escapes as anything but a located ScenarioError."""

from __future__ import annotations

import json
import math
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
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
    "duration": ("fault", "load", "warmup"), "expect": ("expect_fail",),
    "slo": ("expect_fail", "duration"), "target": ("fault",), "postgres": ("fault",),
    "fault": ("duration",), "verify": ("duration",), "warmup": ("duration",),
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


# -- hostile documents: huge numbers, deep nesting, wrong types, any unicode ---------------

_HUGE_INTS = st.one_of(
    st.integers(min_value=2**63, max_value=10**400),
    st.integers(min_value=-(10**400), max_value=-(2**63) - 1),
    st.integers(min_value=2**63 - 2, max_value=2**63 + 2),
)
#: Literals tomllib turns into values no reader expects: more digits than Python converts,
#: hex beyond any float, floats beyond the float range, non-finite floats.
_HUGE_LITERALS = st.one_of(
    st.integers(min_value=300, max_value=5000).map(lambda n: "9" * n),
    st.integers(min_value=300, max_value=5000).map(lambda n: "-1" + "0" * n),
    st.integers(min_value=20, max_value=4000).map(lambda n: "0x" + "f" * n),
    st.integers(min_value=20, max_value=400).map(lambda n: "1" + "0" * n + ".5"),
    st.sampled_from(["inf", "-inf", "nan", "1e400", "-1e400", "1e-400", "1_000_000_000_000"]),
)
_hostile_scalars = st.one_of(
    _scalars, _HUGE_INTS, st.text(max_size=40), st.text(min_size=500, max_size=3000),
    st.floats(), st.dates(), st.times(), st.datetimes(),
)
_hostile_values = st.recursive(
    _hostile_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.text(min_size=1, max_size=30), inner, max_size=3)),
    max_leaves=8,
)


def _literal(value: Any) -> str:
    """Any value the strategies make, as a TOML literal: unlike the writer's toml_value this
    writes what a hostile file may hold (dates, inf and nan, integers of any size)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value) if abs(value) < 10**4000 else hex(value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else "inf" if value == math.inf else \
            "-inf" if value == -math.inf else repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    if isinstance(value, dict):
        items = ", ".join(f"{json.dumps(k, ensure_ascii=False)} = {_literal(v)}"
                          for k, v in value.items())
        return "{ " + items + " }" if items else "{}"
    return str(value.isoformat())  # date, time, datetime


def _hostile_dump(doc: dict[str, Any]) -> str:
    return "\n".join(f"{json.dumps(k, ensure_ascii=False)} = {_literal(v)}"
                     for k, v in doc.items())


def _nested(depth: int, leaf: str, tables: bool) -> str:
    """A TOML value nested ``depth`` deep: arrays, or inline tables."""
    if tables:
        return "{ a = " * depth + leaf + " }" * depth
    return "[" * depth + leaf + "]" * depth


def _only_scenario_errors(text: str) -> None:
    """loads_scenario on ``text`` succeeds or raises a located, one-line ScenarioError."""
    try:
        loads_scenario(text, "fuzz.toml")
    except ScenarioError as exc:
        message = str(exc)
        assert exc.file == "fuzz.toml" and message.startswith("fuzz.toml: ") and exc.problem
        assert "\n" not in message and "\r" not in message
        assert len(message) < 3000


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(PATHS), _hostile_values, st.booleans())
def test_hostile_values_in_every_key_raise_only_scenario_errors(
    path: tuple[Any, ...], value: Any, add: bool
) -> None:
    """Any key of a valid document replaced (or joined) by a hostile value: a huge integer,
    a long or odd unicode string, a date, a non-finite float, a container of them."""
    _only_scenario_errors(_hostile_dump(_mutate(path, value, add)))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(PATHS), _HUGE_LITERALS)
def test_huge_number_literals_in_every_key_raise_only_scenario_errors(
    path: tuple[Any, ...], literal: str
) -> None:
    """A literal written straight into the TOML text at any key: 5,000 digits (beyond
    Python's int-string limit inside tomllib), 400 digits (beyond float), long hex."""
    doc = _mutate(path, "@@HOSTILE@@", False)
    text = _dump(doc).replace('"@@HOSTILE@@"', literal)
    _only_scenario_errors(text)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(PATHS), st.integers(min_value=1, max_value=4000), st.booleans(),
       st.sampled_from(["1", '"x"', "[]", "{}", "1e400", "99999999999999999999"]))
def test_deep_nesting_at_every_key_raises_only_scenario_errors(
    path: tuple[Any, ...], depth: int, tables: bool, leaf: str
) -> None:
    """Arrays or inline tables nested up to 4,000 deep at any key: the parser's own recursion
    and everything after it end in "nested too deeply", never a RecursionError."""
    doc = _mutate(path, "@@HOSTILE@@", False)
    text = _dump(doc).replace('"@@HOSTILE@@"', _nested(depth, leaf, tables))
    _only_scenario_errors(text)


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.characters(), max_size=300))
def test_arbitrary_unicode_never_raises_anything_else(text: str) -> None:
    """Text from the whole of unicode (control characters, surrogates, line separators)."""
    _only_scenario_errors(text)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(_dump(VALID).splitlines()),
                          _HUGE_LITERALS.map(lambda lit: f"duration = {lit}"),
                          st.integers(1, 3000).map(lambda d: f"seed = {_nested(d, '1', False)}"),
                          st.text(max_size=50).map(lambda t: f"{toml_value(t)} = 1")),
                max_size=25))
def test_hostile_lines_mixed_into_a_valid_file(lines: list[str]) -> None:
    """Valid lines mixed with hostile ones, in any order: a scenario or a ScenarioError."""
    _only_scenario_errors("\n".join(lines))


@pytest.mark.parametrize(("text", "key", "fragment"), [
    ("duration = " + "9" * 400, "duration", "integer out of range: TOML integers are 64-bit"),
    ("[load]\nspawn_rate = " + "9" * 400, "load.spawn_rate", "integer out of range"),
    ("seed = 0x" + "f" * 4000, "seed", "integer of about 4817 digits"),
    ("seed = " + "9" * 5000, "", "line 1: a number of 5000 digits"),
    ('name = "a"\n\n[load]\nusers = ' + "1_" * 4500 + "1", "", "line 4: a number of 4501 digits"),
    ("x = " + "[" * 3000 + "]" * 3000, "", "nested too deeply"),
    ("x = " + "{ a = " * 3000 + "1" + " }" * 3000, "", "nested too deeply"),
    ("x = " + "[" * 40 + "]" * 40, "x" + "[0]" * 31, "nested too deeply"),
    ("duration = 1e400", "duration", "finite"),
    ('duration = "' + "9" * 400 + 's"', "duration", "(401 characters)"),
    ('duration = "' + "9" * 40 + 's"', "duration", "at most 366d"),
    ('[slo.run]\nlost_writes = "== ' + "9" * 400 + '"', "slo.run.lost_writes", "expected"),
    ("[load]\nwait_ms = [0, 9223372036854775807]", "load.wait_ms", "an hour"),
    ("[load]\nmix = { post_message = 9223372036854775807 }", "load.mix.post_message",
     "[0, 1000000]"),
    ('[[load.request]]\nname = "a"\npath = "/"\njson = { n = inf }', "load.request[0].json.n",
     "only finite numbers"),
    ('"a\\u2028b\\u0000c" = 1', "a\\u2028b\\x00c", "unknown key"),
])
def test_hostile_documents_are_located(text: str, key: str, fragment: str) -> None:
    """The issue's crashes and their neighbours: each a ScenarioError with the key (or the
    line) and a message that says what is wrong, on one line."""
    with pytest.raises(ScenarioError) as info:
        loads_scenario(text, "fuzz.toml")
    assert info.value.key == key, str(info.value)
    assert fragment in info.value.problem, str(info.value)
    assert "\n" not in str(info.value) and len(str(info.value)) < 3000


def test_hostile_file_on_disk(tmp_path: Path) -> None:
    """load_scenario: the same protections, and files too large to be scenarios."""
    deep = tmp_path / "deep.toml"
    deep.write_text("x = " + "[" * 3000 + "]" * 3000)
    big = tmp_path / "big.toml"
    big.write_text("# " + "x" * (2 * 1024 * 1024))
    for path, fragment in ((deep, "nested too deeply"), (big, "larger than 1024 KiB")):
        with pytest.raises(ScenarioError, match=fragment):
            load_scenario(path)
