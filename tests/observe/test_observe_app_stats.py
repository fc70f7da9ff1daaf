"""Pure logic: sample fields from a stats body (reference shape, other shapes, junk), memory diff
normalisation and raw-stats thinning."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.observe import Observer, ObserveTargets
from harness.observe.app_stats import extract_stats, normalize_breaker_state
from harness.observe.memory_diffs import normalize_diff

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


def test_memory_diff_normalisation_keeps_the_body_and_sets_harness_time() -> None:
    """The hook's body is kept; t_s becomes the harness' (the app's kept as app_t_s); top
    entries get the documented names from common aliases; a missing top becomes []."""
    body = {"t_s": 3.5, "total_bytes": 10, "extra": 1,
            "top": [{"location": "a.py:1", "size": 5, "size_diff": 2, "count": 1}]}
    out = normalize_diff(body, 12.34567)
    assert out["t_s"] == 12.346 and out["app_t_s"] == 3.5 and out["extra"] == 1
    assert out["top"][0] == {"location": "a.py:1", "site": "a.py:1", "size": 5, "size_bytes": 5,
                             "size_diff": 2, "size_diff_bytes": 2, "count": 1}
    assert normalize_diff({}, 1.0)["top"] == []


def test_thinned_raw_stats_keep_one_body_per_period(tmp_path: Path) -> None:
    """raw_stats_every_s keeps the raw body on the first tick of each period only."""
    targets = ObserveTargets("http://127.0.0.1:9", lambda: None, lambda: None, None, None,
                             lambda: None, chaos_hooks=False)
    obs = Observer(tmp_path, targets, t0_monotonic=0.0, tick_s=1.0, raw_stats_every_s=5.0)
    kept = [obs._raw_stats(float(t), {"n": t}) is not None for t in range(12)]
    assert kept == [True, False, False, False, False] * 2 + [True, False]
