"""The report's tables as plain rows of strings, shared by Markdown and HTML.

Each function turns part of ``result.json`` (docs/run-directory.md) into a
:class:`Table`; :mod:`harness.report.markdown` and :mod:`harness.report.html` only
lay the rows out, so both documents always say the same thing. Values are
formatted with the unit the metric catalogue gives them (fractions as percent).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.records import ResultRecord
from harness.verify.catalog import METRICS, slo_id, split_slo_id
from harness.verify.windows import FaultWindow

__all__ = [
    "Table",
    "ANY_SLO",
    "expectation_reasons",
    "expected_to_fail",
    "fault_table",
    "fmt_bytes",
    "fmt_number",
    "fmt_value",
    "memory_sites",
    "memory_words",
    "metrics_table",
    "phase_table",
    "slo_outcome",
    "threshold_text",
    "verdict_table",
    "write_table",
]

_UNIT_SUFFIX = {"ms": " ms", "s": " s", "MB": " MB", "MB/h": " MB/h", "rps": " req/s",
                "per_minute": " /min", "per_hour": " /h"}


@dataclass
class Table:
    """A titled table: ``status[i]`` marks row ``i`` as ``pass``/``fail``/``unknown``/``""``."""

    title: str
    header: list[str]
    rows: list[list[str]] = field(default_factory=list)
    status: list[str] = field(default_factory=list)
    note: str = ""
    mark_col: int = -1  # the cell that carries a row's verdict (emphasised when it fails)

    def add(self, row: list[str], status: str = "") -> None:
        """Append one row with its status."""
        self.rows.append(row)
        self.status.append(status)


def fmt_number(value: Any, digits: int = 3) -> str:
    """A number for people: integers as is, floats to ``digits`` significant places."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return str(value)
        if value == int(value) and abs(value) < 1e12:
            return str(int(value))
        magnitude = math.floor(math.log10(abs(value)))
        if magnitude < -4:
            return f"{value:.{digits}g}"
        return f"{value:.{max(0, digits - 1 - magnitude)}f}"
    return str(value)


def fmt_bytes(value: Any, signed: bool = False) -> str:
    """Bytes for people (``+1.5 MiB`` when ``signed``)."""
    if not isinstance(value, int | float):
        return "n/a"
    sign = "+" if signed else ""
    for unit, size in (("MiB", 1024 * 1024), ("KiB", 1024)):
        if abs(value) >= size:
            return f"{value / size:{sign}.1f} {unit}"
    return f"{value:{sign}.0f} B"


def fmt_value(metric: str, value: Any) -> str:
    """A metric's value with its unit (``0.9995`` availability -> ``99.95%``)."""
    if value is None:
        return "not measured"
    spec = METRICS.get(metric)
    unit = spec.unit if spec else ""
    if unit == "fraction" and isinstance(value, int | float) and not isinstance(value, bool):
        return f"{fmt_number(100.0 * float(value), 5)}%"
    return fmt_number(value, 3) + _UNIT_SUFFIX.get(unit, "")


def threshold_text(slo: Mapping[str, object]) -> str:
    """The threshold as the scenario wrote it, else ``op`` and the formatted value."""
    text = slo.get("threshold_text")
    if isinstance(text, str) and text:
        return text
    op = str(slo.get("op", ""))
    return f"{op} {fmt_value(str(slo.get('name', '')), slo.get('threshold'))}".strip()


#: ``expected_to_fail`` of a negative control that names no SLO: any failing SLO will do.
ANY_SLO = "*"


def expected_to_fail(result: ResultRecord | None) -> set[str]:
    """The SLO ids (``metric@phase``) a negative control declares must fail.

    A control (``expect = "fail"``) that names none gets ``{ANY_SLO}``: whichever SLO
    fails is the expected failure, and a passing SLO is still just a pass.
    """
    if result is None:
        return set()
    if result.expect == "fail" and not result.expect_fail:
        return {ANY_SLO}
    return {slo_id(*split_slo_id(item)) for item in result.expect_fail}


def slo_outcome(slo: Mapping[str, object], expect_fail: set[str]) -> tuple[str, str]:
    """``(status, words)`` for an SLO, judged against what the scenario expects of it.

    status is ``pass`` when the SLO did what was expected (a negative control's SLO
    failing counts as a pass), ``fail`` when not, ``unknown`` when it was not measured.
    """
    verdict = str(slo.get("verdict", "unknown"))
    expected_fail = slo_id(str(slo.get("name")), str(slo.get("phase", "run"))) in expect_fail
    if verdict not in ("pass", "fail"):
        evidence = slo.get("evidence")
        reason = evidence.get("reason") if isinstance(evidence, dict) else None
        if reason:
            return "unknown", f"unknown: {reason}"
        return "unknown", "not measured" if slo.get("value") is None else "unknown"
    if ANY_SLO in expect_fail:
        return ("pass", "fail (expected: negative control)") if verdict == "fail" \
            else ("pass", "pass")
    if not expected_fail:
        return verdict, verdict
    if verdict == "fail":
        return "pass", "fail (expected: negative control)"
    return "fail", "pass (expected to fail: the detector did not fire)"


def verdict_table(result: ResultRecord | None) -> Table:
    """SLO, phase, threshold, value, verdict: the first thing every report shows."""
    table = Table("Verdicts", ["SLO", "phase", "threshold", "value", "verdict"])
    if result is None:
        table.note = "result.json is missing: run `chaosharness verify RUN_DIR` first."
        return table
    expect_fail = expected_to_fail(result)
    for slo in result.slos:
        status, words = slo_outcome(slo, expect_fail)
        name = str(slo.get("name", "?"))
        table.add([name, str(slo.get("phase", "run")), threshold_text(slo),
                   fmt_value(name, slo.get("value")) + _rate_note(slo), words], status)
    if not table.rows:
        table.note = "The scenario declares no SLOs."
    return table


def _rate_note(slo: Mapping[str, object]) -> str:
    """`` (n/N requests, 95% lower bound x%)`` for a rate judged on its bound, else ''."""
    evidence = slo.get("evidence")
    rate = evidence.get("rate") if isinstance(evidence, dict) else None
    summary = rate.get("summary") if isinstance(rate, dict) else None
    return f" ({summary})" if isinstance(summary, str) and summary else ""


def fault_table(result: ResultRecord | None, windows: Sequence[FaultWindow],
                end_s: float | None = None) -> Table:
    """Each fault: action, window, recovery and detection times, whether it applied. A
    window never removed ends at ``end_s`` (the run's end), else "never"."""
    table = Table("Faults", ["#", "action", "applied (s)", "removed (s)", "recovery",
                             "detect", "applied ok"])
    measured = {(f.fault, f.repeat): f for f in (result.faults if result else ())}
    for win in windows:
        meas = measured.get((win.fault, win.repeat))
        ok = "yes" if win.ok else f"no: {win.error or 'failed'}"
        removed = win.removed_s if win.removed_s is not None else end_s
        table.add([win.label.split(" ", 1)[0], win.action, fmt_number(win.applied_s),
                   fmt_number(removed) if removed is not None else "never",
                   fmt_value("recovery_seconds", meas.recovery_s if meas else None),
                   fmt_value("detect_seconds", meas.detect_s if meas else None), ok],
                  "" if win.ok else "fail")
    if not table.rows:
        table.note = "No faults were applied in this run."
    return table


_WRITE_ROWS = (("attempted", "keys the load generator tried to write"),
               ("acknowledged", "answered 2xx"), ("failed", "definitely failed (4xx)"),
               ("read", "keys read back from Postgres"),
               ("indeterminate", "unknown outcome, absent from the read (not a failure)"),
               ("lost", "acknowledged, absent from the read"),
               ("duplicated", "more than one row"), ("unexpected", "never attempted"),
               ("phantom", "definitely failed, yet present"),
               ("recovered", "unknown outcome that landed (not a failure)"),
               ("unrecorded", "read back from a lost load worker, its rows never arrived "
                              "(not counted)"))
_BAD_WRITES = frozenset({"lost", "duplicated", "unexpected", "phantom"})


def write_table(result: ResultRecord | None) -> tuple[Table, dict[str, list[str]], str]:
    """Write accounting counts, the first offending keys per class, and its verdict."""
    writes = result.writes if result else {}
    table = Table("Write accounting", ["class", "keys", "meaning"], mark_col=1)
    if not writes:
        table.note = "No write accounting in result.json."
        return table, {}, "unknown"
    if writes.get("reason"):
        table.note = f"No verdict: {writes['reason']}"
    for name, meaning in _WRITE_ROWS:
        if name not in writes:
            continue
        count = writes.get(name)
        bad = name in _BAD_WRITES and isinstance(count, int) and count > 0
        table.add([name, fmt_number(count), meaning], "fail" if bad else "")
    raw = writes.get("examples")
    examples = {str(k): [str(x) for x in v] for k, v in raw.items()
                if isinstance(v, list) and v} if isinstance(raw, dict) else {}
    return table, examples, str(writes.get("verdict", "unknown"))


def memory_sites(result: ResultRecord | None) -> list[dict[str, object]]:
    """The top growing allocation sites from result.json.

    Each dict has ``site``, ``size_bytes``, ``growth_bytes`` (verify's total growth, or a
    diff's ``size_diff_bytes``), ``count``, ``consecutive_diffs`` and a ``traceback`` list.
    """
    sites = result.memory.get("top_sites") if result else None
    out: list[dict[str, object]] = []
    for site in sites if isinstance(sites, list) else []:
        if isinstance(site, dict):
            growth = site.get("growth_bytes", site.get("size_diff_bytes"))
            out.append({**site, "growth_bytes": growth})
    return out


def memory_words(result: ResultRecord | None) -> str:
    """The memory verdict in words, saying so when no SLO of the scenario judges it."""
    leak = result.memory.get("leak") if result else None
    words = "LEAK" if leak else "no leak" if leak is False else "unknown"
    judged = any(s.get("name") == "memory_growth_mb_per_hour"
                 for s in (result.slos if result else ()))
    return words if judged or leak is None else f"{words} (no SLO of this scenario judges it)"


def expectation_reasons(result: ResultRecord | None) -> list[str]:
    """Why the verdict is not what the scenario expects (verify's words), if it is not."""
    if result is not None and result.as_expected is False:
        return [str(r) for r in result.expectation_reasons]
    return []


def phase_table(result: ResultRecord | None) -> Table:
    """The phases verify split the run into: name, kind, span, and the fault each belongs to."""
    table = Table("Phases", ["phase", "kind", "start (s)", "end (s)", "fault"])
    for phase in result.phases if result else ():
        fault = phase.get("fault")
        table.add([str(phase.get("name", "?")), str(phase.get("kind", "?")),
                   fmt_number(phase.get("start_s")), fmt_number(phase.get("end_s")),
                   "" if fault is None else f"#{fault}"])
    if not table.rows:
        table.note = "No phases in result.json."
    return table


def metrics_table(result: ResultRecord | None) -> Table:
    """Every metric of every phase: one row per metric, one column per phase."""
    table = Table("All metrics", ["metric"])
    if result is None or not result.metrics:
        table.note = "No metrics in result.json."
        return table
    metrics = result.metrics
    phases = [p for p, v in metrics.items() if v]
    table.header += phases
    names: list[str] = []
    for phase in phases:
        names += [n for n in metrics[phase] if n not in names]
    for name in names:
        table.add([name] + [fmt_value(name, metrics[p].get(name)) if name in metrics[p] else ""
                            for p in phases])
    return table
