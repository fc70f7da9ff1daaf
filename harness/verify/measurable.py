"""Which of a scenario's SLOs its target and load cannot feed, said before a run.

Every metric in :data:`~harness.verify.catalog.METRICS` names the evidence kinds it is
computed from (``needs``), and some phases need their own
(:data:`~harness.verify.catalog.PHASE_NEEDS`). Here each kind has one check on the
resolved scenario: ``None`` when the scenario provides it, else why not. An SLO is
unmeasurable when a kind it needs is missing; the reason is built from the kind's
:class:`~harness.verify.catalog.Evidence` text and the check's answer::

    unmeasurable(scenario)
    # [("unhandled_errors@run", "needs a stats endpoint ([target] stats_path is empty)")]

The checks only refuse what is certain from the file: a custom ``[target] locustfile``
may write or not (unknown until run time), so it is trusted.
"""

from __future__ import annotations

from collections.abc import Callable

from harness.faults.catalog import FAULTS
from harness.scenario.durations import format_duration
from harness.scenario.schema import Scenario
from harness.verify.catalog import EVIDENCE, METRICS, PHASE_NEEDS

__all__ = ["CHECKS", "missing_evidence", "unmeasurable"]

#: The scenario's answer for one evidence kind: ``None`` (provided) or why it is missing.
Check = Callable[[Scenario], str | None]

_NOT_STARTED = 'kind = "url": the service was already running, the harness did not start it'


def _requests(scenario: Scenario) -> str | None:
    return None  # every scenario has a load


def _probe(scenario: Scenario) -> str | None:
    t = scenario.target
    if t.health_path or t.ready_path:
        return None
    return "[target] health_path and ready_path are empty"


def _ready_probe(scenario: Scenario) -> str | None:
    return None if scenario.target.ready_path else "[target] ready_path is empty"


def _stats(scenario: Scenario) -> str | None:
    return None if scenario.target.stats_path else "[target] stats_path is empty"


def _process(scenario: Scenario) -> str | None:
    return None if scenario.target.has_process else _NOT_STARTED


def _tracemalloc(scenario: Scenario) -> str | None:
    t, observe = scenario.target, scenario.observe
    if t.kind != "reference":
        return f'kind = "{t.kind}": only the reference app has the memory snapshot hook'
    if not t.chaos_hooks:
        return "[target] chaos_hooks = false"
    if not observe.tracemalloc:
        return "[observe] tracemalloc is off"
    after_warmup = max(0.0, scenario.duration - scenario.warmup)
    if after_warmup < 2 * observe.memory_every:
        return (f"{format_duration(after_warmup)} after warm-up holds fewer than 2 diffs "
                f"[observe] memory_every = {format_duration(observe.memory_every)} apart")
    return None


def _rss_trend_span(scenario: Scenario) -> str | None:
    from harness.verify.memory import MIN_TREND_SPAN_S

    span = max(0.0, scenario.duration - scenario.warmup + scenario.cooldown)
    if span >= MIN_TREND_SPAN_S:
        return None
    return (f"duration {format_duration(scenario.duration)} - warmup "
            f"{format_duration(scenario.warmup)} + cooldown {format_duration(scenario.cooldown)}"
            f" is {format_duration(span)}, under {format_duration(MIN_TREND_SPAN_S)}: "
            f"too short to tell a leak from warm-up")


def _writes(scenario: Scenario) -> str | None:
    if scenario.target.locustfile:
        return None  # the user's own load: unknown until it runs
    requests = scenario.load.requests
    if requests:
        if any(r.is_write and (r.weight > 0 or r.on_start) for r in requests):
            return None
        return "no [[load.request]] has a write_key"
    if scenario.load.mix.get("post_message", 0) > 0:
        return None
    return "[load] mix gives post_message no weight"


def _fault(scenario: Scenario) -> str | None:
    return None if scenario.faults else "the scenario has no [[fault]]"


def _removed_fault(scenario: Scenario) -> str | None:
    if not scenario.faults:
        return "the scenario has no [[fault]]"
    for fault in scenario.faults:
        spec = FAULTS.get(fault.action)
        if spec is not None and spec.instant:
            return None
        if any(end is not None and end < scenario.duration for _, end in fault.windows()):
            return None
    return ("every fault lasts until the end-of-run rollback (no `for`, or one that ends "
            "after the load)")


def _pg_connections(scenario: Scenario) -> str | None:
    t, proxy = scenario.target, scenario.proxy
    if not t.has_process:
        return f"{_NOT_STARTED}, so its connections do not go through the harness' proxy"
    if proxy.url and t.kind != "reference":
        return ("[proxy] url: a proxy reached by URL has no process whose sockets can be "
                "read, and only the reference app names its connections")
    return None


def _leak_allowance(scenario: Scenario) -> str | None:
    if scenario.target.stats_path:
        return None  # the pool's max, when the stats report it
    first = min((f.at for f in scenario.faults), default=None)
    if first is None or first - scenario.warmup >= scenario.observe.tick:
        return None
    return (f"no stats endpoint for the pool's max, and the first fault at "
            f"{format_duration(first)} leaves no steady part after the "
            f"{format_duration(scenario.warmup)} warm-up")


def _after_load(scenario: Scenario) -> str | None:
    if scenario.cooldown >= scenario.observe.tick:
        return None
    return (f"cooldown {format_duration(scenario.cooldown)} is shorter than one "
            f"[observe] tick ({format_duration(scenario.observe.tick)})")


def _warmup(scenario: Scenario) -> str | None:
    return None if scenario.warmup > 0 else "warmup is 0"


#: One check per evidence kind of :data:`~harness.verify.catalog.EVIDENCE`.
CHECKS: dict[str, Check] = {
    "requests": _requests,
    "probe": _probe,
    "ready_probe": _ready_probe,
    "stats": _stats,
    "process": _process,
    "log": _process,
    "tracemalloc": _tracemalloc,
    "rss_trend_span": _rss_trend_span,
    "writes": _writes,
    "fault": _fault,
    "removed_fault": _removed_fault,
    "pg_connections": _pg_connections,
    "leak_allowance": _leak_allowance,
    "after_load": _after_load,
    "warmup": _warmup,
}


def missing_evidence(scenario: Scenario) -> dict[str, str]:
    """Every evidence kind the scenario does not provide, with why, in :data:`EVIDENCE` order."""
    out: dict[str, str] = {}
    for kind in EVIDENCE:
        why = CHECKS[kind](scenario)
        if why is not None:
            out[kind] = why
    return out


def unmeasurable(scenario: Scenario) -> list[tuple[str, str]]:
    """``(slo_id, reason)`` for every SLO of ``scenario`` whose metric or phase needs evidence
    the scenario does not provide, in the scenario's SLO order. The reason names each
    missing kind: ``needs <what> (<why not>)``, joined by ``; ``."""
    missing = missing_evidence(scenario)
    out: list[tuple[str, str]] = []
    for slo in scenario.slos:
        spec = METRICS.get(slo.metric)
        needs = (spec.needs if spec else frozenset()) | PHASE_NEEDS.get(slo.phase, frozenset())
        reasons = [f"needs {EVIDENCE[kind].what} ({why})" for kind, why in missing.items()
                   if kind in needs]
        if reasons:
            out.append((slo.id, "; ".join(reasons)))
    return out
