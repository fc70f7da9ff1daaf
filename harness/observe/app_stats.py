"""Pull the figures a sample needs out of an app's ``/api/monitoring/stats`` body.

The target may be the reference implementation or a user's own service with a
different (or smaller) stats document, so every extraction is tolerant: each
figure is looked up under a few plausible key paths, the first numeric (or
string) value wins, and anything absent or of the wrong type is ``None``,
never an exception. The raw body is kept in the sample as well, for the report.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "BREAKER_STATES",
    "breaker_states",
    "database_breaker",
    "extract_stats",
    "normalize_breaker_state",
]

BREAKER_STATES = ("closed", "open", "half_open")

Path = tuple[str, ...]

_POOL_ROOTS: Sequence[Path] = (("pool",), ("database", "pool"), ("db_pool",), ("db", "pool"))
_POOL_KEYS: Mapping[str, Sequence[str]] = {
    "size": ("size", "current_size", "total", "open"),
    "in_use": ("in_use", "used", "busy", "acquired", "checked_out", "active"),
    "idle": ("idle", "free", "available"),
    "waiting": ("waiting", "waiters", "pending", "queued"),
    "max": ("max", "max_size", "maxsize", "capacity"),
}
_TASK_ROOTS: Sequence[Path] = (("tasks",), ("task_manager",), ("task_metrics",))
_TASK_KEYS: Mapping[str, Sequence[str]] = {
    "queued": ("queued", "queue_size", "queue_depth", "pending"),
    "running": ("running", "active", "in_flight"),
    "max_queue": ("max_queue", "max_queue_size", "queue_max", "queue_capacity"),
    "rejected": ("rejected", "rejected_total", "dropped"),
}
_UNHANDLED_PATHS: Sequence[Path] = (
    ("errors_unhandled",),
    ("errors", "unhandled"),
    ("errors", "unhandled_total"),
    ("error_boundary", "unhandled"),
    ("error_boundary", "unhandled_total"),
)
_MEMORY_WARNING_PATHS: Sequence[Path] = (
    ("memory", "warnings_total"),
    ("memory", "warnings"),
    ("memory_warnings",),
)
_TRACED_PATHS: Sequence[Path] = (
    ("memory", "traced_bytes"),
    ("memory", "tracemalloc_bytes"),
    ("memory", "traced_current_bytes"),
    ("memory", "tracemalloc", "current_bytes"),
    ("memory", "tracemalloc", "current"),
    ("tracemalloc_bytes",),
)
_BREAKER_ROOTS: Sequence[Path] = (
    ("breakers",),
    ("circuit_breakers",),
    ("circuit_breaker",),
    ("database", "breakers"),
)
_DB_BREAKER_PATHS: Sequence[Path] = (
    ("database", "breaker"),
    ("database", "circuit_breaker"),
    ("database", "circuit"),
    ("breaker",),
)


def _dig(obj: Any, path: Path) -> Any:
    for key in path:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return obj


def _number(value: Any) -> int | float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


def _first_number(obj: Any, paths: Sequence[Path]) -> int | float | None:
    for path in paths:
        value = _number(_dig(obj, path))
        if value is not None:
            return value
    return None


def _first_mapping(obj: Any, paths: Sequence[Path]) -> Mapping[str, Any] | None:
    for path in paths:
        value = _dig(obj, path)
        if isinstance(value, Mapping):
            return value
    return None


def _figures(
    obj: Any, roots: Sequence[Path], keys: Mapping[str, Sequence[str]]
) -> dict[str, int | float | None] | None:
    """The named figures under the first root that is a mapping; ``None`` if no root is."""
    root = _first_mapping(obj, roots)
    if root is None:
        return None
    return {name: _first_number(root, [(k,) for k in aliases]) for name, aliases in keys.items()}


def normalize_breaker_state(value: Any) -> str | None:
    """``"OPEN"``, ``"CircuitState.HALF_OPEN"``, ``"half-open"`` -> ``open``/``half_open``/...

    A mapping with a ``state`` key is read through; anything else unknown is ``None``.
    """
    if isinstance(value, Mapping):
        value = value.get("state")
    if not isinstance(value, str) or not value:
        return None
    text = value.rsplit(".", 1)[-1].strip().lower().replace("-", "_").replace(" ", "_")
    if text == "halfopen":
        text = "half_open"
    return text if text in BREAKER_STATES else None


def breaker_states(stats: Any) -> dict[str, str | None]:
    """Every circuit breaker's state by name (a mapping or a list of ``{name, state}``)."""
    for path in _BREAKER_ROOTS:
        root = _dig(stats, path)
        if isinstance(root, Mapping):
            if "state" in root and not isinstance(root.get("state"), Mapping):
                return {"database": normalize_breaker_state(root)}
            return {str(k): normalize_breaker_state(v) for k, v in root.items()}
        if isinstance(root, list):
            named = [b for b in root if isinstance(b, Mapping) and "name" in b]
            return {str(b["name"]): normalize_breaker_state(b) for b in named}
    return {}


def database_breaker(stats: Any, breakers: Mapping[str, str | None]) -> str | None:
    """The database breaker's state: a breaker named like the database, or the only one."""
    for path in _DB_BREAKER_PATHS:
        state = normalize_breaker_state(_dig(stats, path))
        if state is not None:
            return state
    for name, state in breakers.items():
        if name.lower() in ("database", "db", "postgres", "postgresql"):
            return state
    if len(breakers) == 1:
        return next(iter(breakers.values()))
    return None


def _pool(stats: Any) -> dict[str, int | float | None] | None:
    pool = _figures(stats, _POOL_ROOTS, _POOL_KEYS)
    if pool is not None and pool["idle"] is None and None not in (pool["size"], pool["in_use"]):
        pool["idle"] = pool["size"] - pool["in_use"]  # type: ignore[operator]
    return pool


def extract_stats(stats: Any) -> dict[str, object]:
    """The sample fields taken from a stats body; each is ``None`` when the body lacks it."""
    breakers = breaker_states(stats)
    return {
        "breaker": database_breaker(stats, breakers),
        "breakers": breakers or None,
        "pool": _pool(stats),
        "tasks": _figures(stats, _TASK_ROOTS, _TASK_KEYS),
        "app_errors_unhandled": _first_number(stats, _UNHANDLED_PATHS),
        "memory_warnings": _first_number(stats, _MEMORY_WARNING_PATHS),
        "tracemalloc_bytes": _first_number(stats, _TRACED_PATHS),
    }
