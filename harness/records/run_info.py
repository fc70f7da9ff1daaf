"""``run.json`` (docs/run-directory.md): :class:`RunInfo`, the run's self-description.

Rewritten as the run moves on (``running`` -> ``complete`` / ``incomplete`` / ``failed``),
so a run cut short still says what it got to. The blocks the conductor fills from other
parts (``app``, ``postgres``, ``proxy``, ``observer``, ``load``, ``aborted``) are kept as
JSON objects; their fields are listed in docs/run-directory.md. Stdlib only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields

from harness.records.base import (
    FORMAT_VERSION,
    RecordError,
    check_format,
    opt_float,
    opt_int,
    opt_obj,
    opt_str,
)

__all__ = ["RUN_STATUSES", "AppExit", "RunInfo"]

#: ``running`` while the conductor works; then complete, incomplete (stopped) or failed.
RUN_STATUSES = ("running", "complete", "incomplete", "failed")
_OBJECTS = ("versions", "host", "app", "postgres", "proxy", "observer", "load", "aborted")


@dataclass(frozen=True)
class AppExit:
    """One exit of the app the harness started (run.json ``app.exits``)."""

    t_s: float | None
    returncode: int | None = None
    #: The signal that ended it (``"SIGTERM"``, ...), else None.
    signal: str | None = None
    #: What stopped it: a fault action (``app.term``), ``teardown``, ``restart``, ...
    cause: str | None = None

    def to_json(self) -> dict[str, object]:
        return {"t_s": self.t_s, "returncode": self.returncode, "signal": self.signal,
                "cause": self.cause}

    @classmethod
    def from_json(cls, obj: Mapping[str, object], what: str = "run.json app.exits") -> AppExit:
        return cls(opt_float(obj, "t_s", what), opt_int(obj, "returncode", what),
                   opt_str(obj, "signal", what), opt_str(obj, "cause", what))


@dataclass
class RunInfo:
    """The content of run.json. Every field but ``format`` may be missing from an old or
    hand-made file (then None, or empty)."""

    format: int = FORMAT_VERSION
    scenario: str | None = None
    run_id: str | None = None
    status: str | None = None
    error: str | None = None
    started_wall: str | None = None
    ended_wall: str | None = None
    t0_monotonic: float | None = None
    duration_s: float | None = None
    warmup_s: float | None = None
    seed: int | None = None
    profile: str | None = None
    command: str | None = None
    replay_of: str | None = None
    versions: dict[str, object] = field(default_factory=dict)
    host: dict[str, object] = field(default_factory=dict)
    #: url, pid, kind, probes; after teardown restarts and exits (``t_s``, returncode, ...)
    app: dict[str, object] = field(default_factory=dict)
    postgres: dict[str, object] = field(default_factory=dict)
    proxy: dict[str, object] = field(default_factory=dict)
    dependencies: list[object] = field(default_factory=list)
    observer: dict[str, object] = field(default_factory=dict)
    load: dict[str, object] = field(default_factory=dict)
    aborted: dict[str, object] | None = None
    #: Fields this version does not know (a newer writer's additions of the same format).
    extra: dict[str, object] = field(default_factory=dict)

    def app_exits(self) -> list[AppExit]:
        """``app.exits``: each exit of the app the harness started (a malformed entry
        raises RecordError)."""
        exits = self.app.get("exits")
        if not isinstance(exits, list):
            return []
        return [AppExit.from_json(e) for e in exits if isinstance(e, dict)]

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "extra":
                out.update(value)
            elif f.name in ("aborted", "observer", "load", "postgres", "proxy",
                            "dependencies", "app") and not value:
                continue  # not reached yet: absent, as in a run cut short
            else:
                out[f.name] = value
        return out

    @classmethod
    def from_json(cls, obj: Mapping[str, object], what: str = "run.json") -> RunInfo:
        if not isinstance(obj, Mapping):
            raise RecordError(f"{what}: expected a JSON object")
        fmt = check_format(obj, what)
        objects = {name: opt_obj(obj, name, what) for name in _OBJECTS}
        deps = obj.get("dependencies")
        known = {f.name for f in fields(cls)}
        return cls(
            format=fmt, scenario=opt_str(obj, "scenario", what),
            run_id=opt_str(obj, "run_id", what), status=opt_str(obj, "status", what),
            error=opt_str(obj, "error", what), started_wall=opt_str(obj, "started_wall", what),
            ended_wall=opt_str(obj, "ended_wall", what),
            t0_monotonic=opt_float(obj, "t0_monotonic", what),
            duration_s=opt_float(obj, "duration_s", what),
            warmup_s=opt_float(obj, "warmup_s", what), seed=opt_int(obj, "seed", what),
            profile=opt_str(obj, "profile", what), command=opt_str(obj, "command", what),
            replay_of=opt_str(obj, "replay_of", what),
            versions=objects["versions"] or {}, host=objects["host"] or {},
            app=objects["app"] or {}, postgres=objects["postgres"] or {},
            proxy=objects["proxy"] or {},
            dependencies=list(deps) if isinstance(deps, list) else [],
            observer=objects["observer"] or {}, load=objects["load"] or {},
            aborted=objects["aborted"],
            extra={str(k): v for k, v in obj.items() if k not in known},
        )
