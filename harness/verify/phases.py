"""Split a run into phases from timeline.jsonl: warm-up, steady, fault and recovery.

* warm-up: from the run's zero to ``load_start`` (or run.json ``warmup_s``);
* fault: each fault window ``[apply.t_s, remove.t_s]`` (to the end when never removed);
* recovery: from a fault's removal (or when it stopped acting, see
  :mod:`harness.verify.windows`) until the service recovered (the first sustained
  success, computed by :func:`harness.verify.availability.recovery_point`), cut at the
  next fault;
* steady: everything else after warm-up.

Overlaps resolve by priority fault > recovery > warm-up > steady, so every instant
belongs to exactly one phase and every request to one phase kind. ``run`` is not a
phase here: it is the whole run, reported beside them.
"""

from __future__ import annotations

import bisect
from dataclasses import asdict, dataclass

from harness.records import RunInfo, TimelineEvent
from harness.verify.windows import FaultWindow, repeat_suffix

__all__ = ["Phase", "PhaseIndex", "build_phases", "run_bounds"]

_PRIORITY = {"fault": 3, "recovery": 2, "warmup": 1, "steady": 0}


@dataclass(frozen=True)
class Phase:
    """A contiguous span of the run of one kind (warmup, steady, fault, recovery)."""

    name: str
    kind: str
    start_s: float
    end_s: float
    fault: int | None = None

    @property
    def duration_s(self) -> float:
        return max(0.0, self.end_s - self.start_s)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def run_bounds(
    events: list[TimelineEvent], run_info: RunInfo | None, warmup_s: float | None = None
) -> tuple[float, float]:
    """(warm-up end, load end) in run seconds.

    The scenario's clock starts at ``load_start`` (0 when absent) and its warm-up lasts
    run.json's ``warmup_s`` (else ``warmup_s`` given here, from the scenario) after it.
    Load end is ``load_stop``, else ``run_end``, else infinity (the caller bounds it).
    """
    by_name: dict[str, float] = {}
    for e in events:
        by_name.setdefault(e.event, e.t_s)
    warm = run_info.warmup_s if run_info and run_info.warmup_s is not None else warmup_s or 0.0
    start = by_name.get("load_start", 0.0)
    end = by_name.get("load_stop", by_name.get("run_end", float("inf")))
    return start + float(warm), end


def build_phases(
    windows: list[FaultWindow],
    recovered_at: dict[int, float | None],
    warm_end_s: float,
    end_s: float,
) -> list[Phase]:
    """Cover ``[0, end_s]`` with phases; ``recovered_at`` maps a window's position to the
    time its recovery ended (``None``: not recovered, recovery lasts until cut)."""
    spans: list[tuple[float, float, str, str, int | None]] = []
    if warm_end_s > 0:
        spans.append((0.0, warm_end_s, "warmup", "warmup", None))
    applies = sorted(w.applied_s for w in windows)
    for pos, w in enumerate(windows):
        fault_end = w.removed_s if w.removed_s is not None else end_s
        spans.append((w.applied_s, fault_end, "fault", w.name, w.fault))
        if w.recovery_from_s is None:
            continue
        nxt = bisect.bisect_right(applies, fault_end)
        cap = applies[nxt] if nxt < len(applies) else end_s
        rec_end = recovered_at.get(pos)
        rec_end = cap if rec_end is None else min(rec_end, cap)
        spans.append((fault_end, max(fault_end, rec_end), "recovery",
                      f"recovery-{w.fault}{repeat_suffix(w.repeat)}", w.fault))
    return _flatten(spans, end_s)


def _flatten(spans: list[tuple[float, float, str, str, int | None]], end_s: float) -> list[Phase]:
    """Elementary-interval decomposition by priority, then merge neighbours of one name."""
    bounds = sorted({0.0, end_s, *(s for s, _, _, _, _ in spans), *(e for _, e, _, _, _ in spans)})
    bounds = [b for b in bounds if 0.0 <= b <= end_s]
    out: list[Phase] = []
    steady_n = 0
    for lo, hi in zip(bounds, bounds[1:], strict=False):
        if hi <= lo:
            continue
        best: tuple[float, float, str, str, int | None] | None = None
        for span in spans:
            if span[0] <= lo and hi <= span[1] and span[1] > span[0]:
                if best is None or _PRIORITY[span[2]] > _PRIORITY[best[2]]:
                    best = span
        kind, name, fault = ("steady", "", None) if best is None else best[2:]
        if out and out[-1].kind == kind and (kind == "steady" or out[-1].name == name):
            last = out[-1]
            out[-1] = Phase(last.name, kind, last.start_s, hi, last.fault)
            continue
        if kind == "steady":
            name = f"steady-{steady_n}"
            steady_n += 1
        out.append(Phase(name, kind, lo, hi, fault))
    return out


class PhaseIndex:
    """Which phase an instant falls in: a bisect over the phase starts."""

    def __init__(self, phases: list[Phase]) -> None:
        self.phases = phases
        self._starts = [p.start_s for p in phases]

    def index_of(self, t_s: float) -> int:
        """The phase index for ``t_s`` (before the first: the first; after the last: the last)."""
        if not self.phases:
            return -1
        i = bisect.bisect_right(self._starts, t_s) - 1
        return min(max(i, 0), len(self.phases) - 1)

    def kinds(self) -> list[str]:
        return [p.kind for p in self.phases]

    def duration_by_kind(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for p in self.phases:
            out[p.kind] = out.get(p.kind, 0.0) + p.duration_s
        return out
