"""Durations and SLO expressions: the pure parsing underneath every scenario file."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.scenario.durations import format_duration, parse_duration
from harness.slo import compare, parse_slo, parse_threshold


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90.0), ("2m", 120.0), ("500ms", 0.5), ("1h", 3600.0), ("24h", 86400.0),
     ("1h30m", 5400.0), ("1.5s", 1.5), (30, 30.0), (0.25, 0.25), ("0s", 0.0)],
)
def test_parse_duration_units(text: object, seconds: float) -> None:
    """Every documented form parses to the number of seconds it means."""
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["", "s", "10", "10x", "-5s", "1h-5m", True, None, [1], -1,
                                 float("inf"), float("nan"), "5 minutes"])
def test_parse_duration_rejects(bad: object) -> None:
    """Malformed, negative or non-finite durations raise ValueError naming the value."""
    with pytest.raises(ValueError, match="duration"):
        parse_duration(bad)


@given(st.floats(min_value=0, max_value=1e7, allow_nan=False, allow_infinity=False))
def test_format_duration_round_trips(seconds: float) -> None:
    """format_duration writes a string that parses back to exactly the same float."""
    assert parse_duration(format_duration(seconds)) == seconds


def test_format_duration_prefers_big_units() -> None:
    """Readable output: whole hours, minutes, seconds, then milliseconds."""
    assert [format_duration(x) for x in (3600, 120, 45, 0.5, 0)] == ["1h", "2m", "45s",
                                                                     "500ms", "0s"]


@pytest.mark.parametrize(
    ("text", "op", "threshold"),
    [(">= 99.9%", ">=", 0.999), ("< 100", "<", 100.0), ("== 0", "==", 0.0),
     ("!=1", "!=", 1.0), ("<= 1e3", "<=", 1000.0), ("  > 0.5 ", ">", 0.5)],
)
def test_parse_threshold(text: str, op: str, threshold: float) -> None:
    """Op and number are read; a percentage is divided by 100."""
    got_op, got = parse_threshold(text)
    assert got_op == op and math.isclose(got, threshold)


@pytest.mark.parametrize("bad", ["99%", "=< 3", "< abc", "<", "", 5, "< 1 2", "<< 1"])
def test_parse_threshold_rejects(bad: object) -> None:
    """Anything but '<op> <number>[%]' is a ValueError that shows the expected form."""
    with pytest.raises(ValueError, match="expected"):
        parse_threshold(bad)


def test_parse_slo_checks_the_catalogue() -> None:
    """Unknown metrics get a did-you-mean; a metric outside its phases is refused."""
    slo = parse_slo("steady", "availability", ">= 99.9%")
    assert slo.id == "availability@steady" and slo.holds(0.9995) and not slo.holds(0.99)
    with pytest.raises(ValueError, match="did you mean 'lost_writes'"):
        parse_slo("run", "lost_write", "== 0")
    with pytest.raises(ValueError, match="not computed for phase 'steady'"):
        parse_slo("steady", "lost_writes", "== 0")
    with pytest.raises(ValueError, match="percentage"):
        parse_slo("steady", "p99_latency_ms", "< 5%")


def test_compare_nan_never_passes() -> None:
    """An unmeasured (NaN) value fails every op, including !=."""
    assert not any(compare(op, math.nan, 0.0) for op in ("<", "<=", ">", ">=", "==", "!="))
    assert compare("<", 1.0, 2.0) and not compare(">", 1.0, 2.0)
