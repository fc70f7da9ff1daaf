"""The evidence each SLO verdict carries: which rows, which window, the first offending keys.

Small by design (result.json is read by people and rendered into reports): counts,
phase names and the first few examples, never every row.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from harness.records.result import FaultOutcome, WriteAccounting
from harness.verify.catalog import METRICS
from harness.verify.slo import Judgement

__all__ = ["EVIDENCE_BY_FAMILY", "attach_evidence"]

Ctx = dict[str, Any]

def _requests(metric: str, phase: str, ctx: Ctx) -> dict[str, Any]:
    names = [p.name for p in ctx["phases"] if phase == "run" or p.kind == phase]
    block = ctx["metrics"].get(phase, {})
    return {
        "requests": block.get("requests"), "errors_by_class": block.get("errors_by_class"),
        "windows": [[p.start_s, p.end_s] for p in ctx["phases"]
                    if p.name in names][:20] if phase != "run" else None,
        "phases": names[:20],
        "worst_phase": _worst_phase(names, ctx["by_name"]),
        **(ctx["request_examples"](phase) if "request_examples" in ctx else {}),
    }


def _worst_phase(names: Sequence[str], by_name: dict[str, Any]) -> dict[str, Any] | None:
    scored = [(by_name[n]["availability"], n) for n in names
              if n in by_name and by_name[n].get("availability") is not None]
    if not scored:
        return None
    value, name = min(scored)
    return {"phase": name, "availability": value, "requests": by_name[name]["requests"]}


def _writes(metric: str, phase: str, ctx: Ctx) -> dict[str, Any]:
    writes: WriteAccounting = ctx["writes"]
    cls = metric.removesuffix("_writes")
    out: dict[str, Any] = {
        "keys": writes.examples.get(cls, []), "attempted": writes.attempted,
        "acknowledged": writes.acknowledged, "read": writes.read,
        "writes_verdict": writes.verdict,
    }
    if writes.reason:
        out["reason"] = writes.reason
    if cls == "lost" and writes.lost_attempts:
        out["attempts"] = writes.lost_attempts
    if cls == "duplicated":
        out["rows"] = writes.duplicate_rows
    return out


def _faults(metric: str, phase: str, ctx: Ctx) -> dict[str, Any]:
    key, ev = ("recovery_s", "recovery_evidence") if metric == "recovery_seconds" \
        else ("detect_s", "detect_evidence")
    faults: list[FaultOutcome] = ctx["faults"]
    return {"faults": [{"fault": f.name, "action": f.action, key: getattr(f, key),
                        "applied_s": f.applied_s, "removed_s": f.removed_s,
                        **({"recovery_from": f.recovery_from} if key == "recovery_s" else {}),
                        "evidence": getattr(f, ev)} for f in faults][:20]}


def _memory(metric: str, phase: str, ctx: Ctx) -> dict[str, Any]:
    mem = ctx["memory"]
    fit = mem if phase == "run" else mem.get("by_phase", {}).get(phase, {})
    return {
        "ci95": fit.get("ci95"), "points": fit.get("points"),
        "threshold_mb_per_hour": mem.get("threshold_mb_per_hour"),
        "top_sites": [{k: s[k] for k in ("site", "growth_bytes", "consecutive_diffs",
                                          "traceback")} for s in mem.get("top_sites", [])[:5]],
        "after_recovery": [a for a in mem.get("after_recovery", []) if a.get("persists")],
    }


def _process(metric: str, phase: str, ctx: Ctx) -> dict[str, Any]:
    proc = ctx["process"]
    pick: dict[str, Callable[[], Any]] = {
        "connection_leaks": lambda: proc["connections"],
        "shutdown_5xx": lambda: proc["shutdown"]["shutdowns"],
        "shutdown_exit_code": lambda: proc["shutdown"]["shutdowns"],
        "startup_seconds": lambda: proc["startup"],
        "crashes": lambda: proc["crashes"][:10],
        "unhandled_errors": lambda: {"first_increments": proc["unhandled"]["unhandled_errors"]},
        "stderr_unhandled_errors": lambda: {
            "first_increments": proc["unhandled"]["stderr_unhandled_errors"],
            "logs": proc.get("app_logs")},
        "schema_errors": lambda: {"logs": proc.get("app_logs")},
    }
    getter = pick.get(metric)
    return {"detail": getter()} if getter else {"samples": proc.get("samples")}


#: How the evidence of each metric family (:data:`harness.verify.catalog.FAMILIES`) is
#: built; a test checks it covers the registry.
EVIDENCE_BY_FAMILY: dict[str, Callable[[str, str, Ctx], dict[str, Any]]] = {
    "requests": _requests, "faults": _faults, "memory": _memory, "process": _process,
    "writes": _writes,
}


def _for(metric: str) -> Callable[[str, str, Ctx], dict[str, Any]]:
    spec = METRICS.get(metric)
    return EVIDENCE_BY_FAMILY[spec.family] if spec is not None else _process


def attach_evidence(judgements: list[Judgement], ctx: Ctx) -> None:
    """Fill each judgement's evidence (keeping a reason already there)."""
    for j in judgements:
        j.evidence = {**_for(j.slo.metric)(j.slo.metric, j.slo.phase, ctx), **j.evidence}
