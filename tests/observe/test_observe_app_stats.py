"""Extraction of sample fields from a stats body: the reference shape, other shapes, junk."""

from __future__ import annotations

from typing import Any

import pytest

from harness.observe.app_stats import extract_stats, normalize_breaker_state

REFERENCE_LIKE: dict[str, Any] = {
    "pool": {"size": 10, "in_use": 3, "idle": 7, "waiting": 0, "max": 10, "acquire_timeouts": 1},
    "breakers": {"database": {"name": "database", "state": "half_open", "calls": 3}},
    "tasks": {"queued": 5, "running": 2, "retrying": 0, "max_queue": 1000, "rejected": 4},
    "errors_unhandled": 2,
    "memory": {"rss_bytes": 123, "traced_bytes": 4567, "warnings_total": 1},
}


def test_reference_shape_fills_every_field() -> None:
    """The reference implementation's stats give every documented field its value."""
    out = extract_stats(REFERENCE_LIKE)
    assert out == {
        "breaker": "half_open",
        "breakers": {"database": "half_open"},
        "pool": {"size": 10, "in_use": 3, "idle": 7, "waiting": 0, "max": 10},
        "tasks": {"queued": 5, "running": 2, "max_queue": 1000, "rejected": 4},
        "app_errors_unhandled": 2,
        "memory_warnings": 1,
        "tracemalloc_bytes": 4567,
    }


@pytest.mark.parametrize("body", [None, {}, [], "text", 7, {"pool": "x", "breakers": 3,
                                                             "memory": [1], "tasks": None}])
def test_missing_or_malformed_bodies_give_nulls_never_errors(body: Any) -> None:
    """A body without the figures (or of the wrong type) yields None for every field."""
    out = extract_stats(body)
    assert set(out) == {"breaker", "breakers", "pool", "tasks", "app_errors_unhandled",
                        "memory_warnings", "tracemalloc_bytes"}
    assert all(value is None for value in out.values())


def test_other_shapes_and_wrong_types() -> None:
    """A list of named breakers, aliases of pool keys, an idle count derived from size - in_use,
    booleans and strings are not numbers."""
    body = {
        "circuit_breakers": [{"name": "payments", "state": "OPEN"},
                             {"name": "db", "state": "CircuitState.CLOSED"}],
        "database": {"pool": {"current_size": 4, "used": 1, "max_size": 8, "waiters": True}},
        "errors": {"unhandled": "3"},
    }
    out = extract_stats(body)
    assert out["breakers"] == {"payments": "open", "db": "closed"}
    assert out["breaker"] == "closed"
    assert out["pool"] == {"size": 4, "in_use": 1, "idle": 3, "waiting": None, "max": 8}
    assert out["app_errors_unhandled"] is None


def test_single_unnamed_breaker_is_the_database_breaker() -> None:
    """With only one breaker of any name, that one is reported as the database breaker."""
    assert extract_stats({"breakers": {"pg": {"state": "open"}}})["breaker"] == "open"
    assert extract_stats({"breaker": "half-open"})["breaker"] == "half_open"


@pytest.mark.parametrize(("raw", "want"), [
    ("CLOSED", "closed"), ("HalfOpen", "half_open"), ("half open", "half_open"),
    ({"state": "open"}, "open"), ("melted", None), (None, None), (3, None),
])
def test_breaker_state_normalisation(raw: Any, want: str | None) -> None:
    """Breaker spellings map onto closed|open|half_open; anything else is None."""
    assert normalize_breaker_state(raw) == want
