"""Fault windows: every ``apply`` line of timeline.jsonl paired with its ``remove``.

One :class:`FaultWindow` type and one :func:`fault_windows` for verify (phases, recovery,
time to detect) and the report (shaded plot spans, the fault table). What a fault acts
on (``effect``: ``affects``, ``link``, ``undo``) comes from the timeline's own lines
(:attr:`harness.records.TimelineEvent.effect`, filled in for old run directories by
:func:`harness.verify.rundir.read_timeline`), never from the action's name.

A fault's recovery counts from its removal; for a fault that takes Postgres away from
the app (the server, or the ``postgres`` link) from a later ``postgres_ready`` too; and
for a fault removed while another is still active (an app restarted while Postgres is
down) from that one's end.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from harness.records import FaultEffect, TimelineEvent

__all__ = ["POSTGRES_READY_GRACE_S", "FaultWindow", "fault_windows", "repeat_suffix"]

#: How long after a fault's removal a ``postgres_ready`` event still belongs to it.
POSTGRES_READY_GRACE_S = 60.0


def repeat_suffix(repeat: int | None) -> str:
    """The first (or only) application of a fault has no suffix; later repeats get ``.k``."""
    return f".{repeat}" if repeat else ""


@dataclass
class FaultWindow:
    """One application of a ``[[fault]]`` (one repeat of a flapping fault) on the run's
    clock: ``[applied_s, removed_s]``, ``removed_s`` None when it was never removed."""

    fault: int
    repeat: int | None
    action: str
    params: dict[str, object]
    applied_s: float
    removed_s: float | None
    ok: bool
    error: str | None
    recovery_from_s: float | None = None
    #: "removed", "postgres_ready", or "<fault name> removed" (an overlapping fault)
    recovery_from: str = "removed"
    rolled_back: bool = False
    #: What it acts on and how it ends, from its apply line; None for an unknown action.
    effect: FaultEffect | None = None
    #: The fault has more than one window (flapping): the report's label numbers them.
    repeated: bool = False

    @property
    def name(self) -> str:
        """``fault-0``, ``fault-0.1`` for a repeat: the fault and recovery phase names."""
        return f"fault-{self.fault}" + repeat_suffix(self.repeat)

    @property
    def label(self) -> str:
        """Short label for a plot: ``#0 postgres.restart`` (``#2.1`` for a flapping repeat)."""
        rep = f".{self.repeat}" if self.repeat is not None and self.repeated else ""
        failed = " (failed)" if not self.ok else ""
        return f"#{self.fault}{rep} {self.action}{failed}"

    @property
    def hits_postgres(self) -> bool:
        """It takes Postgres away from the app (the server, or the ``postgres`` link)."""
        return self.effect is not None and self.effect.hits_postgres


def fault_windows(
    events: list[TimelineEvent], load_end_s: float = float("inf")
) -> list[FaultWindow]:
    """Pair every ``apply`` with its ``remove`` (same fault index and repeat), in time order.

    A fault removed by the end-of-run rollback (or at/after the load ended) has no
    recovery to measure: there was no load left to recover.
    """
    open_: dict[tuple[int, int | None], FaultWindow] = {}
    windows: list[FaultWindow] = []
    ready_times = [e.t_s for e in events if e.event == "postgres_ready" and e.t_s < load_end_s]
    for e in events:
        if not e.is_fault or e.fault is None:
            continue
        key = (e.fault, e.repeat)
        if e.event == "apply":
            w = FaultWindow(
                fault=e.fault, repeat=e.repeat, action=e.action or "", params=dict(e.params),
                applied_s=e.t_s, removed_s=None, ok=e.ok is not False, error=e.error,
                effect=e.effect,
            )
            open_[key] = w
            windows.append(w)
        elif key in open_:
            w = open_.pop(key)
            w.removed_s = e.t_s
            w.rolled_back = bool(e.rollback) or e.t_s >= load_end_s
    counts = Counter(w.fault for w in windows)
    for w in windows:
        w.repeated = counts[w.fault] > 1
        _set_recovery_start(w, ready_times)
    _wait_for_overlapping(windows)
    return windows


def _wait_for_overlapping(windows: list[FaultWindow]) -> None:
    """A fault removed while another is still active cannot recover before that one is gone
    (an app restarted while Postgres is down): its recovery starts when the overlapping
    fault's own recovery could start, followed transitively. If that one was only healed
    by the end-of-run rollback (or never), this one's recovery cannot be measured either."""
    changed = True
    while changed:
        changed = False
        for w in windows:
            for other in windows:
                if w.recovery_from_s is None or other is w or not other.ok:
                    continue
                healed = _healed_at(other)
                if not other.applied_s <= w.recovery_from_s < healed:
                    continue
                changed = True
                if other.rolled_back or other.removed_s is None:
                    w.recovery_from_s, w.rolled_back = None, True
                    w.recovery_from = f"{other.name} never removed before the load ended"
                else:
                    w.recovery_from_s, w.recovery_from = healed, f"{other.name} removed"


def _healed_at(w: FaultWindow) -> float:
    """When ``w`` stopped acting: its recovery start, else its removal, else never (inf)."""
    if w.recovery_from_s is not None:
        return w.recovery_from_s
    return w.removed_s if w.removed_s is not None else float("inf")


def _set_recovery_start(w: FaultWindow, ready_times: list[float]) -> None:
    """Recovery counts from removal, or, for a fault that took Postgres away, from Postgres
    ready when that came after it (a fault on another link or on the app never waits for
    Postgres)."""
    if w.removed_s is None or w.rolled_back or not w.ok:
        return
    w.recovery_from_s, w.recovery_from = w.removed_s, "removed"
    if not w.hits_postgres:
        return
    for t in ready_times:
        if w.applied_s <= t and w.removed_s < t <= w.removed_s + POSTGRES_READY_GRACE_S:
            w.recovery_from_s, w.recovery_from = t, "postgres_ready"
            return
