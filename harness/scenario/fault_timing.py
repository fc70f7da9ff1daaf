"""When each fault acts, as planned: overlaps on one target, and room left for recovery.

Every application of a ``[[fault]]`` (each repetition of a flapping one) acts over a
*span*: from its start to when its effect is planned to be over. For a fault with
``for`` that is ``start + for``; an instant fault (``postgres.restart``, ``app.kill``)
ends when its action has run. Where the effect ends with a process started again, the
span adds the time that is expected to take (the timeline thread runs the restart
before anything else, and verify counts recovery from it: :mod:`harness.verify.windows`):

* Postgres (``postgres.stop``/``crash``/``restart``/``set_max_connections``):
  :data:`POSTGRES_READY_S`, a stop and start of the embedded server until it is ready;
* the app (``app.kill``/``app.term``): ``restart_after``, then :data:`APP_LIVE_S` until
  the new process answers its liveness probe (``app.term`` first drains,
  :data:`APP_DRAIN_S`).

These are estimates for a healthy machine, named in every message that uses them.

Two checks use spans:

* **Overlap on one target** (:func:`check_overlaps`). While a fault acts, another on the
  same target would be undone or hidden by it: a second ``postgres.freeze`` inside the
  first's window is thawed by the first's removal; ``postgres.restart`` of a frozen server
  hangs; an app frozen and then killed is restarted unfrozen. The same target is:

  - the app process: any two app faults (kill, term, freeze, and the chaos-hook faults
    raise and flood_tasks, which need the app to answer);
  - the Postgres process: any two faults that act on it as a process (``requires =
    "postgres_process"``: stop, crash, restart, freeze, set_max_connections). Faults that
    act through SQL (exhaust_connections, terminate_backends, drift_schema) may overlap them;
  - one link (a proxy): ``network.down`` overlapping anything on that link (while the link
    is down no toxic on it acts), or two toxics of the same type on it (they stack, and
    verify cannot tell which one a symptom belongs to). Different toxic types on a link,
    and faults on different links, may overlap.

  Spans are closed: one that starts the instant another ends overlaps it, because at the
  same planned time the timeline applies the second before it removes the first.
  Repetitions of one fault are not compared with each other: ``repeat.every > for``
  already keeps them apart (:mod:`harness.scenario.fault_entries`).

* **Room for recovery** (:func:`check_recovery_room`). ``recovery_seconds`` is measured
  from the end of a fault's effect to the start of the first ``[verify] recovery_window``
  (default 5 s) of load that is at least ``recovery_min_ok`` ok, and the window must end
  before the load does (:func:`harness.verify.availability.recovery_point`). A scenario
  that declares a ``recovery_seconds`` SLO therefore needs, after every span, at least
  ``recovery_window`` of load: the smallest duration that works is the latest span's end
  plus the window (for a service that recovers at once; one that takes r seconds needs r
  more). A fault that lasts until the end-of-run rollback has no recovery to measure and
  is left out. The loader refuses the file when the SLO decides the run (any SLO of a
  scenario that expects to pass; a negative control's ``expect_fail``); a negative
  control's other ``recovery_seconds`` SLOs, judged but not deciding, only get a
  ``validate`` warning (the smoke suite shortens its controls on purpose).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from harness.errors import ScenarioError
from harness.faults.catalog import FAULTS, POSTGRES_LINK, FaultSpec
from harness.scenario.durations import format_duration
from harness.scenario.schema import Fault
from harness.slo import Slo

__all__ = ["APP_DRAIN_S", "APP_LIVE_S", "POSTGRES_READY_S", "Span", "check_overlaps",
           "check_recovery_room", "counted_slos", "recovery_room_problem", "spans"]

#: Expected seconds for the embedded Postgres to stop and start again until ready.
POSTGRES_READY_S = 1.0
#: Expected seconds from starting the app process again to its first liveness answer.
APP_LIVE_S = 1.0
#: Expected seconds for the app to drain and exit after SIGTERM (``app.term``).
APP_DRAIN_S = 1.0


#: Faults whose ``for`` is optional yet which, without it, end by themselves at once
#: instead of lasting until the rollback ("restart after `for` (default at once)").
_AT_ONCE_WITHOUT_FOR = frozenset({"postgres.crash"})


@dataclass(frozen=True)
class Span:
    """One application of a fault, from ``start`` to when its effect is planned to be over
    (``end``; the run's duration when it lasts until the end-of-run rollback)."""

    fault: Fault
    #: Which application: 0 for the first (or only) one.
    repeat: int
    start: float
    end: float
    #: The fault is only removed by the end-of-run rollback.
    until_rollback: bool
    #: Why it ends at ``end``, for messages ("for 4s + ~1s for Postgres to be ready").
    why: str

    @property
    def name(self) -> str:
        """``fault[2]``, ``fault[2] (repetition 3 of 4)``."""
        rep = self.fault.repeat
        return f"fault[{self.fault.index}]" + (
            f" (repetition {self.repeat + 1} of {rep.count})" if rep and rep.count > 1 else "")

    def describe(self, named: bool = True) -> str:
        """``fault[0] (postgres.stop, 15s to ~20s: for 4s + ~1s for Postgres to be ready
        again)``; without ``named`` only what is in the brackets (and the repetition)."""
        rep = self.fault.repeat
        label = self.name if named else (
            f"repetition {self.repeat + 1} of {rep.count}, " if rep and rep.count > 1 else "")
        if self.until_rollback:
            what = f"{self.fault.action}, {_t(self.start)} to the end of the run"
        elif self.end == self.start:
            what = f"{self.fault.action} at {_t(self.start)}"
        else:
            what = f"{self.fault.action}, {_t(self.start)} to ~{_t(self.end)}: {self.why}"
        return f"{label} ({what})" if named else f"{label}{what}"


def _t(seconds: float) -> str:
    """Seconds as a message shows them: ``15s``, ``21.5s``."""
    return f"{seconds:g}s"


def _settle(spec: FaultSpec, params: Mapping[str, object]) -> tuple[float, str]:
    """Expected seconds between the planned end of a fault's action and its target being
    back, and what they are for."""
    if spec.affects == "postgres" and spec.undo == "restart":
        return POSTGRES_READY_S, f"~{_t(POSTGRES_READY_S)} for Postgres to be ready again"
    if spec.affects == "app" and spec.undo == "restart":
        after = params.get("restart_after")
        after_s = float(after) if isinstance(after, int | float) else 0.0
        drain = APP_DRAIN_S if spec.name == "app.term" else 0.0
        parts = ([f"~{_t(drain)} to drain"] if drain else []) + [
            f"restart_after {_t(after_s)}", f"~{_t(APP_LIVE_S)} for the app to start"]
        return drain + after_s + APP_LIVE_S, " + ".join(parts)
    return 0.0, ""


def spans(faults: tuple[Fault, ...], duration: float) -> list[Span]:
    """Every application of every fault, in start order."""
    out: list[Span] = []
    for fault in faults:
        spec = FAULTS[fault.action]
        settle, settle_why = _settle(spec, fault.params)
        for repeat, (start, end) in enumerate(fault.windows()):
            if end is None and not spec.instant and spec.name not in _AT_ONCE_WITHOUT_FOR:
                out.append(Span(fault, repeat, start, duration, True, "until the rollback"))
                continue
            planned = start if end is None else end
            why = " + ".join(([f"for {_t(end - start)}"] if end is not None else [])
                             + ([settle_why] if settle_why else []))
            out.append(Span(fault, repeat, start, planned + settle, False, why))
    return sorted(out, key=lambda s: (s.start, s.fault.index, s.repeat))


def _conflict(a: Span, b: Span) -> str | None:
    """Why ``a`` and ``b`` may not overlap, or None when they act on different things."""
    sa, sb = FAULTS[a.fault.action], FAULTS[b.fault.action]
    if sa.affects == "app" and sb.affects == "app":
        return ("both act on the app process: a kill or term restarts it (ending a freeze, "
                "hiding the other's effect), a thaw ends a freeze early, and the chaos hooks "
                "need an app that answers")
    if sa.requires == "postgres_process" and sb.requires == "postgres_process":
        return ("both act on the Postgres process: the first one's restart or thaw ends the "
                "other's effect early (a second freeze is thawed, a stopped server is started "
                "again), and a stop or restart of a frozen server hangs")
    if sa.affects == "link" and sb.affects == "link":
        link_a = str(a.fault.params.get("proxy") or POSTGRES_LINK)
        link_b = str(b.fault.params.get("proxy") or POSTGRES_LINK)
        if link_a != link_b:
            return None
        if "network.down" in (sa.name, sb.name):
            return (f"network.down disables link {link_a!r} whole: while it lasts nothing else "
                    "on that link acts, or can be told apart from it")
        if sa.name == sb.name:
            return (f"two {sa.name.removeprefix('network.')} toxics on link {link_a!r} stack "
                    "(their effects add up) and verify cannot tell which one a symptom "
                    "belongs to")
    return None


def _groups(span: Span) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(the groups ``span`` joins, the groups it must not overlap): the same-target rules of
    :func:`_conflict` as keys, so overlaps are found in one sweep, not by comparing pairs."""
    spec = FAULTS[span.fault.action]
    if spec.affects == "app":
        return ("app",), ("app",)
    if spec.requires == "postgres_process":
        return ("postgres",), ("postgres",)
    if spec.affects == "link":
        link = str(span.fault.params.get("proxy") or POSTGRES_LINK)
        if spec.name == "network.down":
            return (f"any:{link}", f"down:{link}"), (f"any:{link}",)
        return (f"any:{link}", f"{spec.name}:{link}"), (f"down:{link}", f"{spec.name}:{link}")
    return (), ()


def check_overlaps(file: str, faults: tuple[Fault, ...], duration: float) -> None:
    """Raise ScenarioError at the later of the first two overlapping faults on one target.

    One sweep in start order: each group keeps the two latest-ending spans of different
    faults seen so far, so a file with thousands of repetitions is checked in linear time."""
    latest: dict[str, list[Span]] = {}
    for later in spans(faults, duration):
        joins, checks = _groups(later)
        for group in checks:
            earlier = next((e for e in latest.get(group, ())
                            if e.fault.index != later.fault.index), None)
            if earlier is None or later.start > earlier.end:
                continue
            why = _conflict(earlier, later)
            if why is None:  # cannot happen: the groups encode _conflict
                continue
            touching = (" (it starts the instant the other ends: at one planned time the "
                        "timeline applies the second before it removes the first)"
                        if later.start == earlier.end else "")
            raise ScenarioError(
                file, f"fault[{later.fault.index}]",
                f"{later.describe(named=False)} overlaps {earlier.describe()}{touching}: {why}; "
                f"start it after {_t(earlier.end)}, or put it on another target")
        for group in joins:  # the latest end per fault, then the two latest of those
            best: dict[int, Span] = {}
            for e in (*latest.get(group, ()), later):
                if e.fault.index not in best or e.end > best[e.fault.index].end:
                    best[e.fault.index] = e
            latest[group] = sorted(best.values(), key=lambda e: e.end, reverse=True)[:2]


def recovery_room_problem(
    faults: tuple[Fault, ...], duration: float, window: float, slos: tuple[Slo, ...],
) -> str | None:
    """Why the load ends before the last fault's recovery window could close, when one of
    ``slos`` is a ``recovery_seconds`` SLO; else None."""
    slo = next((s for s in slos if s.metric == "recovery_seconds"), None)
    if slo is None:
        return None
    measured = [s for s in spans(faults, duration) if not s.until_rollback]
    if not measured:
        return None
    last = max(measured, key=lambda s: (s.end, s.start))
    need = last.end + window
    if duration >= need:
        return None
    left = max(0.0, duration - last.end)
    return (f"{format_duration(duration)} is too short to measure {slo.id}: {last.describe()} "
            f"is over at ~{_t(last.end)}, which leaves {_t(round(left, 3))} of load, and a "
            f"recovery is only measured over [verify] recovery_window ({_t(window)}) of load "
            f"after the fault; the smallest duration that works is "
            f"{format_duration(math.ceil(need))} (for a service that recovers at once: one that "
            "takes r s to recover needs r s more)")


def counted_slos(slos: tuple[Slo, ...], expect: str, expect_fail: tuple[str, ...]
                 ) -> tuple[Slo, ...]:
    """The SLOs whose verdict decides the run: all of them, or a negative control's
    ``expect_fail`` (its other SLOs are judged and reported, but cannot change whether it
    is as expected: :func:`harness.verify.verdict.expectation`)."""
    return slos if expect != "fail" else tuple(s for s in slos if s.id in expect_fail)


def check_recovery_room(
    file: str, faults: tuple[Fault, ...], duration: float, window: float,
    slos: tuple[Slo, ...],
) -> None:
    """Raise ScenarioError at ``duration`` when a ``recovery_seconds`` SLO among ``slos``
    (pass those that decide the run: :func:`counted_slos`) could not be measured: the load
    ends before the last fault's recovery window could close."""
    problem = recovery_room_problem(faults, duration, window, slos)
    if problem is not None:
        raise ScenarioError(file, "duration", problem)
