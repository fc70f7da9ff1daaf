"""Fault timing at validate: overlaps on one target, warm-up, room for recovery, toxic bounds."""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.errors import ScenarioError
from harness.faults.catalog import FAULTS
from harness.scenario import load_scenario, load_suite, loads_scenario
from harness.scenario.fault_timing import (
    POSTGRES_READY_S,
    _conflict,
    check_overlaps,
    recovery_room_problem,
    spans,
)
from harness.scenario.schema import Fault
from harness.toxiproxy.jsonbody import INT64_MAX
from harness.toxiproxy.toxics import TOXIC_TYPES, parse_toxic_attributes

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted([*ROOT.glob("scenarios/*.toml"), *ROOT.glob("examples/*/scenario*.toml")])


def _fault(at: str, action: str, for_: str | None = None, **params: object) -> str:
    lines = ["[[fault]]", f'at = "{at}"', f'action = "{action}"']
    if for_ is not None:
        lines.append(f'for = "{for_}"')
    lines += [f"{k} = {v!r}" if not isinstance(v, str) else f'{k} = "{v}"'
              for k, v in params.items()]
    return "\n".join(lines) + "\n"


def _doc(*faults: str, duration: str = "40s", extra: str = "") -> str:
    deps = '[[dependency]]\nname = "cache"\nupstream = "127.0.0.1:6379"\n'
    return f'name = "t"\nduration = "{duration}"\n{extra}{deps}' + "".join(faults)


def _error(text: str, **overrides: object) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        loads_scenario(text, "x.toml", overrides or None)
    return info.value


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_shipped_scenario_passes_the_timing_rules(path: Path) -> None:
    """scenarios/*.toml and examples/*/scenario*.toml validate under the new rules."""
    load_scenario(path)


def test_every_shipped_suite_validates_with_its_overrides() -> None:
    """Suites shorten scenarios; the shortened ones still pass every rule that decides them."""
    for path in sorted(ROOT.glob("scenarios/suites/*.toml")):
        load_suite(path)


# -- overlaps ---------------------------------------------------------------------------


@pytest.mark.parametrize(("first", "second", "why"), [
    # a second freeze inside the first's window: the first's thaw would end it
    (_fault("15s", "postgres.freeze", "6s"), _fault("17s", "postgres.freeze", "2s"),
     "Postgres process"),
    (_fault("15s", "postgres.freeze", "6s"), _fault("18s", "postgres.restart"), "Postgres process"),
    # a stop's span includes Postgres coming back: 15 + 4 + ~1
    (_fault("15s", "postgres.stop", "4s"), _fault("19.5s", "postgres.freeze", "2s"),
     "Postgres process"),
    (_fault("10s", "app.freeze", "5s"), _fault("12s", "app.kill"), "app process"),
    # app.kill's span: restart_after 1 + ~1 s to start
    (_fault("10s", "app.kill"), _fault("11.5s", "app.raise"), "app process"),
    (_fault("10s", "network.latency", "5s", latency=100),
     _fault("12s", "network.latency", "5s", latency=50, stream="upstream"), "two latency toxics"),
    (_fault("10s", "network.down", "5s"), _fault("12s", "network.timeout", "2s"),
     "network.down disables link 'postgres'"),
    (_fault("10s", "network.reset_peer", "5s", proxy="cache"),
     _fault("14s", "network.down", "5s", proxy="cache"), "network.down disables link 'cache'"),
    # touching counts: at one planned time the second is applied before the first is removed
    (_fault("10s", "postgres.freeze", "5s"), _fault("15s", "postgres.freeze", "2s"),
     "starts the instant the other ends"),
])
def test_overlapping_faults_on_one_target_are_refused(first: str, second: str, why: str) -> None:
    """The later fault is blamed, and the message names both faults, their spans and why."""
    for order in ((first, second), (second, first)):
        err = _error(_doc(*order))
        assert err.key in ("fault[0]", "fault[1]")
        assert why in err.problem, err.problem
        assert "overlaps fault[" in err.problem and "start it after" in err.problem
    err = _error(_doc(first, second))
    assert err.key == "fault[1]" and "overlaps fault[0]" in err.problem


def test_overlap_message_is_precise() -> None:
    """The message gives both faults' actions and spans, and when the second may start."""
    err = _error(_doc(_fault("15s", "postgres.freeze", "6s"),
                      _fault("17s", "postgres.freeze", "2s")))
    assert str(err) == (
        "x.toml: fault[1]: postgres.freeze, 17s to ~19s: for 2s overlaps fault[0] "
        "(postgres.freeze, 15s to ~21s: for 6s): both act on the Postgres process: the first "
        "one's restart or thaw ends the other's effect early (a second freeze is thawed, a "
        "stopped server is started again), and a stop or restart of a frozen server hangs; "
        "start it after 21s, or put it on another target")


@pytest.mark.parametrize(("first", "second"), [
    # different targets
    (_fault("10s", "postgres.freeze", "5s"), _fault("12s", "app.kill")),
    (_fault("10s", "postgres.stop", "12s"), _fault("12s", "app.kill")),  # startup-db-down
    # SQL faults may overlap process faults
    (_fault("10s", "postgres.exhaust_connections", "10s"), _fault("12s", "postgres.restart")),
    # different toxic types on one link, the same type on different links
    (_fault("10s", "network.latency", "5s", latency=100), _fault("12s", "network.timeout", "2s")),
    (_fault("10s", "network.latency", "5s", latency=100),
     _fault("12s", "network.latency", "2s", latency=5, proxy="cache")),
    (_fault("10s", "network.down", "5s"), _fault("12s", "network.down", "2s", proxy="cache")),
    # apart: after the first's span (15 + 4 + ~1 s for a stop)
    (_fault("15s", "postgres.stop", "4s"), _fault("20.5s", "postgres.freeze", "2s")),
    (_fault("10s", "app.kill"), _fault("12.5s", "app.freeze", "2s")),
    (_fault("10s", "app.raise"), _fault("10.5s", "app.raise")),
])
def test_faults_that_do_not_share_a_target_or_a_time_may_coexist(first: str, second: str) -> None:
    loads_scenario(_doc(first, second), "x.toml")


def test_repetitions_of_one_fault_are_not_compared_with_each_other() -> None:
    """repeat.every > for keeps them apart: db-flap stops Postgres every 8 s for 2 s."""
    text = _doc(_fault("12s", "postgres.stop", "2s") + "repeat = { every = \"3s\", count = 3 }\n")
    assert len(loads_scenario(text, "x.toml").faults[0].windows()) == 3


def test_an_overlap_with_a_later_repetition_names_it() -> None:
    text = _doc(_fault("10s", "postgres.stop", "2s") + "repeat = { every = \"8s\", count = 3 }\n",
                _fault("19s", "postgres.freeze", "1s"))
    err = _error(text)
    assert err.key == "fault[1]" and "fault[0] (repetition 2 of 3)" in err.problem


def test_a_fault_without_for_lasts_until_the_rollback() -> None:
    """drift_schema without `for` lasts to the end; crash without `for` restarts at once."""
    faults = loads_scenario(_doc(_fault("10s", "postgres.drift_schema", table="a", column="b",
                                        new_name="c"),
                                 _fault("12s", "postgres.crash")), "x.toml").faults
    by_action = {s.fault.action: s for s in spans(faults, 40.0)}
    assert by_action["postgres.drift_schema"].until_rollback
    assert by_action["postgres.drift_schema"].end == 40.0
    crash = by_action["postgres.crash"]
    assert not crash.until_rollback and crash.end == 12.0 + POSTGRES_READY_S


# -- warm-up ------------------------------------------------------------------------------


@pytest.mark.parametrize("warmup", ["30s", "45s"])
def test_warmup_must_end_before_the_duration(warmup: str) -> None:
    err = _error(f'duration = "30s"\nwarmup = "{warmup}"\n')
    assert err.key == "warmup" and "must be < duration (30s)" in err.problem


def test_warmup_is_checked_after_a_duration_override() -> None:
    err = _error('duration = "60s"\nwarmup = "10s"\n', duration="10s")
    assert err.key == "warmup"


# -- room for recovery --------------------------------------------------------------------


def test_db_restart_at_20s_says_up_front_what_duration_works() -> None:
    """The issue's case: `run db-restart.toml --duration 20s` ran and then failed on
    recovery_seconds = None; now it is refused with the smallest duration that works."""
    with pytest.raises(ScenarioError) as info:
        load_scenario(ROOT / "scenarios" / "db-restart.toml", {"duration": "20s"})
    err = info.value
    assert err.key == "duration"
    assert "20s is too short to measure recovery_seconds@recovery" in err.problem
    assert "fault[0] (postgres.stop, 15s to ~20s: for 4s + ~1s for Postgres" in err.problem
    assert "recovery_window (5s)" in err.problem
    assert "the smallest duration that works is 25s" in err.problem
    load_scenario(ROOT / "scenarios" / "db-restart.toml", {"duration": "25s"})


@pytest.mark.parametrize(("faults", "window", "smallest"), [
    (_fault("10s", "network.latency", "5s", latency=100), "5s", 20),
    (_fault("10s", "network.latency", "5s", latency=100), "8s", 23),
    (_fault("10s", "app.kill", restart_after="2s"), "5s", 18),   # 10 + 2 + ~1 + 5
    (_fault("10s", "app.term"), "5s", 18),                      # 10 + ~1 drain + 1 + ~1 + 5
    (_fault("10s", "postgres.restart"), "5s", 16),               # 10 + ~1 + 5
    (_fault("10s", "app.raise"), "5s", 15),
    (_fault("10s", "postgres.stop", "2s") + 'repeat = { every = "8s", count = 3 }\n', "5s",
     34),                                                       # 26 + 2 + ~1 + 5
])
def test_the_smallest_duration_is_the_last_span_end_plus_the_window(
    faults: str, window: str, smallest: int
) -> None:
    extra = f'[verify]\nrecovery_window = "{window}"\n[slo.run]\nrecovery_seconds = "< 10"\n'
    text = f'name = "t"\nduration = "{smallest}s"\n{extra}' + faults
    loads_scenario(text, "x.toml")
    err = _error(text, duration=f"{smallest - 1}s")
    assert err.key == "duration"
    assert f"the smallest duration that works is {smallest}s" in err.problem


def test_no_recovery_slo_no_room_needed() -> None:
    loads_scenario('duration = "11s"\n' + _fault("10s", "postgres.stop", "1s"), "x.toml")


def test_a_fault_until_the_rollback_needs_no_room() -> None:
    """A fault removed only by the rollback has no recovery to measure."""
    text = ('duration = "20s"\n[slo.run]\nrecovery_seconds = "< 10"\n'
            + _fault("15s", "postgres.drift_schema", table="a", column="b", new_name="c"))
    loads_scenario(text, "x.toml")


def test_a_negative_control_is_refused_only_for_the_slos_that_decide_it() -> None:
    """expect = "fail": an unmeasurable recovery_seconds not in expect_fail cannot change the
    outcome (validate warns about it); one in expect_fail could never fail, so it is refused."""
    body = ('duration = "20s"\nexpect = "fail"\n[slo.run]\nrecovery_seconds = "< 10"\n'
            'lost_writes = "== 0"\n' + _fault("12s", "postgres.stop", "4s"))
    scenario = loads_scenario('expect_fail = ["lost_writes@run"]\n' + body, "x.toml")
    assert recovery_room_problem(scenario.faults, scenario.duration,
                                 scenario.verify.recovery_window, scenario.slos)
    err = _error('expect_fail = ["recovery_seconds@run"]\n' + body)
    assert err.key == "duration" and "smallest duration that works is 22s" in err.problem


# -- toxic attributes: the catalogue allows exactly what the proxy accepts -----------------


@pytest.mark.parametrize("toxic", sorted(t for t in TOXIC_TYPES if t != "noop"))
def test_toxic_attributes_are_bounded_as_the_proxy_bounds_them(toxic: str) -> None:
    """Every attribute's catalogue range is inside what the proxy parses: the largest value the
    loader accepts is an int64 the proxy takes, one more is refused by the loader."""
    spec = FAULTS[f"network.{toxic}"]
    for attr in TOXIC_TYPES[toxic].attributes:
        param = spec.params[attr.name]
        assert param.max == INT64_MAX
        required = {a.name: max(a.minimum or 0, 1) for a in TOXIC_TYPES[toxic].attributes}
        assert parse_toxic_attributes(toxic, {**required, attr.name: INT64_MAX})[attr.name] \
            == INT64_MAX
        lo = param.min if param.min is not None else 0
        below = _error(_doc(_fault("10s", f"network.{toxic}", "5s",
                                   **{**required, attr.name: int(lo) - 1})))
        assert below.key == f"fault[0].{attr.name}" and "must be >=" in below.problem


def test_an_attribute_beyond_int64_is_refused_before_the_proxy_sees_it() -> None:
    err = _error(_doc(_fault("10s", "network.latency", "5s", latency=INT64_MAX + 1)))
    assert err.key == "fault[0].latency" and "64-bit" in err.problem


_ACTIONS = {  # action -> whether it takes `for`
    "postgres.freeze": True, "postgres.stop": True, "postgres.restart": False,
    "postgres.exhaust_connections": True, "app.kill": False, "app.freeze": True,
    "app.raise": False, "network.down": True, "network.latency": True,
    "network.timeout": True,
}


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(sorted(_ACTIONS)), st.integers(0, 40),
                          st.integers(1, 8), st.sampled_from(["postgres", "cache"])),
                min_size=1, max_size=8))
def test_the_overlap_sweep_agrees_with_comparing_every_pair(
    entries: list[tuple[str, int, int, str]],
) -> None:
    """check_overlaps finds a conflict exactly when some pair of spans of different faults
    overlaps (closed) and shares a target by _conflict's rules."""
    faults = tuple(
        Fault(index=i, action=action, at=float(at), for_=float(for_) if _ACTIONS[action] else None,
              params=MappingProxyType({"proxy": proxy, "restart_after": 1.0}))
        for i, (action, at, for_, proxy) in enumerate(entries))
    all_spans = spans(faults, 100.0)
    expected = any(a.fault.index != b.fault.index and a.start <= b.start <= a.end
                   and _conflict(a, b) is not None
                   for a in all_spans for b in all_spans if a is not b)
    try:
        check_overlaps("x.toml", faults, 100.0)
        found = False
    except ScenarioError:
        found = True
    assert found == expected
