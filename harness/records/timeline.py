"""One line of ``timeline.jsonl`` (docs/run-directory.md): :class:`TimelineEvent`.

Every line has ``event``, ``t_s`` and (for the conductor's own lines) ``wall``. The lines
of a fault (``apply``, ``remove``) carry the fault's fields, what it acts on and how its
effect ends (:class:`FaultEffect`), and the outcome; the other events (``run_start``,
``load_start``, ``postgres_ready``, ``worker_*``, ``online_violation``, ``load_stop``,
``run_end``) carry their own few fields, kept in :attr:`TimelineEvent.extra`.
Stdlib only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, get_args

from harness.records.base import (
    RecordError,
    opt_bool,
    opt_float,
    opt_int,
    opt_obj,
    opt_str,
)

__all__ = ["AFFECTS", "EVENT_FIELDS", "FAULT_EVENTS", "FAULT_FIELDS", "POSTGRES_LINK", "UNDOS", "Affects",
           "FaultEffect", "TimelineEvent", "Undo"]

#: What a fault acts on: the app, the Postgres server, or one link (a proxy, by name).
Affects = Literal["app", "postgres", "link"]
#: How a fault's effect ends: taken away by the harness, the target started again, by itself.
Undo = Literal["remove", "restart", "none"]
AFFECTS: tuple[Affects, ...] = get_args(Affects)
UNDOS: tuple[Undo, ...] = get_args(Undo)
#: The proxy in front of Postgres (a dependency's proxy bears the dependency's name).
POSTGRES_LINK = "postgres"
#: The timeline lines that belong to a fault (and carry its effect).
FAULT_EVENTS = frozenset({"apply", "remove"})
#: The fields of a fault's lines, in the order they are written (``affects``, ``undo`` and
#: ``link`` come from :class:`FaultEffect`).
FAULT_FIELDS: tuple[str, ...] = (
    "fault", "repeat", "action", "params", "affects", "undo", "link", "planned_t_s", "ok",
    "error", "traceback", "duration_s", "detail", "rollback",
)

#: The fields of the run's other lines (besides ``event``, ``t_s`` and ``wall``), by event:
#: kept in :attr:`TimelineEvent.extra`, documented in docs/run-directory.md.
EVENT_FIELDS: dict[str, tuple[str, ...]] = {
    "run_start": (),
    "load_start": (),
    "postgres_ready": ("cause",),
    "worker_joined": ("index", "client_id", "host"),
    "worker_done": ("index", "sent", "received", "recorded", "dropped", "unsent"),
    "worker_lost": ("index", "client_id", "reason", "received", "last_rows_s"),
    "online_violation": ("key", "acked_t_s", "read_started_t_s", "evidence", "read_keys",
                         "polls", "sql"),
    "load_stop": ("locust_exit",),
    "run_end": ("status",),
}


@dataclass(frozen=True)
class FaultEffect:
    """What one application of a fault acts on and how its effect ends, as the timeline
    records it (``affects``, ``link``, ``undo`` on its apply/remove lines)."""

    affects: Affects
    undo: Undo
    #: The proxy's name for a link fault (``"postgres"`` or a dependency), else None.
    link: str | None = None

    @property
    def hits_postgres(self) -> bool:
        """The fault takes Postgres away from the app: the server, or the link to it."""
        return self.affects == "postgres" or (self.affects == "link"
                                              and self.link == POSTGRES_LINK)

    @property
    def restarts_app(self) -> bool:
        """Its removal means the app process was started again."""
        return self.affects == "app" and self.undo == "restart"

    def fields(self) -> dict[str, str]:
        """The timeline fields: ``affects`` and ``undo``, and ``link`` for a link fault."""
        out: dict[str, str] = {"affects": self.affects, "undo": self.undo}
        if self.affects == "link" and self.link is not None:
            out["link"] = self.link
        return out

    @classmethod
    def from_json(cls, obj: Mapping[str, object], what: str) -> FaultEffect | None:
        """The effect of a line; None when the line has no ``affects`` (format 1)."""
        if "affects" not in obj:
            return None
        affects, undo, link = obj.get("affects"), obj.get("undo"), obj.get("link")
        if affects not in AFFECTS or undo not in UNDOS:
            raise RecordError(f"{what}: affects must be one of {list(AFFECTS)} and undo one "
                              f"of {list(UNDOS)}, got affects={affects!r}, undo={undo!r}")
        if (affects == "link") != isinstance(link, str) or link == "":
            raise RecordError(f"{what}: a link fault names its link (and only a link fault), "
                              f"got affects={affects!r}, link={link!r}")
        return cls(affects, undo, link if isinstance(link, str) else None)


@dataclass(frozen=True)
class TimelineEvent:
    """One line of timeline.jsonl.

    The fault fields are set on ``apply``/``remove`` lines only. ``effect`` is None on a
    format-1 line (written before ``affects`` existed): verify then asks the fault
    catalogue (:func:`harness.verify.rundir.read_timeline`)."""

    event: str
    t_s: float
    wall: str | None = None
    fault: int | None = None
    repeat: int | None = None
    action: str | None = None
    params: dict[str, object] = field(default_factory=dict)
    effect: FaultEffect | None = None
    planned_t_s: float | None = None
    ok: bool | None = None
    error: str | None = None
    traceback: str | None = None
    duration_s: float | None = None
    detail: dict[str, object] | None = None
    rollback: bool | None = None
    #: The fields of the other events (``status`` of run_end, ``index`` of worker_*, ...).
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def is_fault(self) -> bool:
        return self.event in FAULT_EVENTS and self.fault is not None

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"event": self.event, "t_s": self.t_s}
        if self.wall is not None:
            out["wall"] = self.wall
        if self.fault is not None:
            out.update(fault=self.fault, repeat=self.repeat, action=self.action,
                       params=dict(self.params))
            if self.effect is not None:
                out.update(self.effect.fields())
            out.update(planned_t_s=self.planned_t_s, ok=self.ok, error=self.error)
            if self.traceback is not None:
                out["traceback"] = self.traceback
            out["duration_s"] = self.duration_s
            for key, value in (("detail", self.detail), ("rollback", self.rollback)):
                if value is not None:
                    out[key] = value
        out.update(self.extra)
        return out

    @classmethod
    def from_json(cls, obj: Mapping[str, object], what: str = "timeline.jsonl") -> TimelineEvent:
        """Parse one line; :class:`RecordError` names what is wrong (``what``: where it is)."""
        event, t = obj.get("event"), obj.get("t_s")
        if not isinstance(event, str) or isinstance(t, bool) or not isinstance(t, int | float):
            raise RecordError(f"{what}: line without event/t_s: {dict(obj)!r}")
        where = f"{what}: {event} line at {t} s"
        fault = opt_int(obj, "fault", where) if event in FAULT_EVENTS else None
        known = {"event", "t_s", "wall", *(FAULT_FIELDS if fault is not None else ())}
        extra = {str(k): v for k, v in obj.items() if k not in known}
        if fault is None:
            return cls(event, float(t), opt_str(obj, "wall", where), extra=extra)
        return cls(
            event, float(t), opt_str(obj, "wall", where), fault=fault,
            repeat=opt_int(obj, "repeat", where), action=opt_str(obj, "action", where) or "",
            params=opt_obj(obj, "params", where) or {},
            effect=FaultEffect.from_json(obj, where),
            planned_t_s=opt_float(obj, "planned_t_s", where), ok=opt_bool(obj, "ok", where),
            error=opt_str(obj, "error", where), traceback=opt_str(obj, "traceback", where),
            duration_s=opt_float(obj, "duration_s", where), detail=opt_obj(obj, "detail", where),
            rollback=opt_bool(obj, "rollback", where), extra=extra,
        )
