"""One line of ``samples.jsonl`` (docs/run-directory.md): :class:`Sample`, one observer tick.

The figures a sampler did not get are ``None`` (and the sampler is named in ``missing``
when it did not answer in time). The blocks of several figures (``pool``, ``tasks``,
``app_proc``, ``pg_proc``, ``pg_connections``) are JSON objects whose fields the document
lists. Stdlib only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields

from harness.records.base import RecordError, opt_bool, opt_float, opt_int, opt_obj, opt_str

__all__ = ["STATS_FIELDS", "Sample"]

#: The fields taken from the app's stats body (``None`` when the body lacks them).
STATS_FIELDS: tuple[str, ...] = ("breaker", "breakers", "pool", "tasks", "app_errors_unhandled",
                                 "memory_warnings", "tracemalloc_bytes")


@dataclass
class Sample:
    """One tick of the observer."""

    t_s: float
    wall: str | None = None
    tick: int | None = None
    lag_ms: float | None = None
    sample_ms: float | None = None
    missing: list[str] = field(default_factory=list)
    ready: bool | None = None
    live: bool | None = None
    breaker: str | None = None
    breakers: dict[str, object] | None = None
    pool: dict[str, object] | None = None
    tasks: dict[str, object] | None = None
    app_errors_unhandled: float | None = None
    stderr_unhandled: int | None = None
    memory_warnings: float | None = None
    tracemalloc_bytes: float | None = None
    app_proc: dict[str, object] | None = None
    pg_proc: dict[str, object] | None = None
    pg_connections: dict[str, object] | None = None
    #: The raw stats body (for the report; thinned by ``raw_stats_every_s``).
    app_stats: object = None

    def to_json(self) -> dict[str, object]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_json(cls, obj: Mapping[str, object], what: str = "samples.jsonl") -> Sample:
        t = opt_float(obj, "t_s", what)
        if t is None:
            raise RecordError(f"{what}: a sample without t_s: {dict(obj)!r}")
        missing = obj.get("missing") or []
        if not isinstance(missing, list):
            raise RecordError(f"{what}: missing must be a list, got {missing!r}")
        return cls(
            t_s=t, wall=opt_str(obj, "wall", what), tick=opt_int(obj, "tick", what),
            lag_ms=opt_float(obj, "lag_ms", what), sample_ms=opt_float(obj, "sample_ms", what),
            missing=[str(m) for m in missing], ready=opt_bool(obj, "ready", what),
            live=opt_bool(obj, "live", what), breaker=opt_str(obj, "breaker", what),
            breakers=opt_obj(obj, "breakers", what), pool=opt_obj(obj, "pool", what),
            tasks=opt_obj(obj, "tasks", what),
            app_errors_unhandled=opt_float(obj, "app_errors_unhandled", what),
            stderr_unhandled=opt_int(obj, "stderr_unhandled", what),
            memory_warnings=opt_float(obj, "memory_warnings", what),
            tracemalloc_bytes=opt_float(obj, "tracemalloc_bytes", what),
            app_proc=opt_obj(obj, "app_proc", what), pg_proc=opt_obj(obj, "pg_proc", what),
            pg_connections=opt_obj(obj, "pg_connections", what), app_stats=obj.get("app_stats"),
        )
