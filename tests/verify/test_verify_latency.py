"""Exact nearest-rank percentiles against a brute-force oracle."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.verify.latency import latency_metrics, nearest_rank


def test_p95_of_one_to_hundred_is_the_95th_value() -> None:
    """0.95 * 100 is 95.00000000000001 in floating point; an exact rank must still give 95."""
    values = [float(v) for v in range(1, 101)]
    assert nearest_rank(values, 95) == 95.0
    assert nearest_rank(values, "99.9") == 100.0
    assert nearest_rank(values, 50) == 50.0
    m = latency_metrics(list(reversed(values)))
    assert m["p99_latency_ms"] == 99.0 and m["max_latency_ms"] == 100.0


def test_empty_is_none_and_bad_percentiles_are_refused() -> None:
    """No requests: no percentile (None, so an SLO on it is unknown); 0 or 101 is a bug."""
    assert latency_metrics([])["p50_latency_ms"] is None
    with pytest.raises(ValueError):
        nearest_rank([1.0], 0)
    with pytest.raises(ValueError):
        nearest_rank([1.0], 101)


@settings(max_examples=300, deadline=None)
@given(
    values=st.lists(st.floats(min_value=0, max_value=1e6, allow_nan=False), min_size=1,
                    max_size=300),
    pct=st.sampled_from(["50", "90", "95", "99", "99.9", "100", "0.1", "33.3"]),
)
def test_nearest_rank_matches_the_definition(values: list[float], pct: str) -> None:
    """The result is a recorded value, at least pct% of values are <= it, and no smaller
    recorded value has that property (the definition, checked by counting)."""
    from fractions import Fraction

    got = nearest_rank(sorted(values), pct)
    q = Fraction(pct) / 100
    covers = [v for v in set(values) if Fraction(sum(1 for x in values if x <= v)) >= q * len(values)]
    assert got == min(covers)
