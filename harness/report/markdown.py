"""``report.md``: the run's report sized for a PR comment.

Order matters to the person reading a PR: the verdict table first, then the faults
with their recovery times, the write accounting, the memory verdict with its top
sites, and the one command that replays the run. Plots are linked, not embedded
(``report.html`` embeds them).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from harness.records import ResultRecord
from harness.report.plots import Plot
from harness.report.rundata import RunData, replay_command
from harness.report.tables import (
    Table,
    expectation_reasons,
    fault_table,
    fmt_bytes,
    fmt_number,
    fmt_value,
    memory_sites,
    memory_words,
    verdict_table,
    write_table,
)
from harness.report.trend_link import trend_href

__all__ = ["md_table", "render_markdown", "verdict_line"]

_MAX_KEYS = 10
_MAX_SITES = 5


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def md_table(table: Table) -> str:
    """A GitHub-flavoured Markdown table; failing rows in bold capitals."""
    if not table.rows:
        return f"_{table.note or 'nothing to show'}_\n"
    lines = ["| " + " | ".join(_cell(h) for h in table.header) + " |",
             "|" + "|".join("---" for _ in table.header) + "|"]
    for row, status in zip(table.rows, table.status, strict=True):
        cells = [_cell(c) for c in row]
        if status == "fail":
            cells[table.mark_col] = f"**{cells[table.mark_col].upper()}**"
        lines.append("| " + " | ".join(cells) + " |")
    if table.note:
        lines.append(f"\n_{table.note}_")
    return "\n".join(lines) + "\n"


def verdict_line(result: ResultRecord | None) -> str:
    """``PASS`` / ``FAIL`` / ``UNKNOWN`` and whether that is what the scenario expects."""
    if result is None:
        return "UNKNOWN (no result.json)"
    verdict = result.verdict.upper()
    expect = result.expect
    as_expected = result.as_expected
    tail = ("as expected" if as_expected else "NOT as expected") if as_expected is not None \
        else "expectation not judged"
    return f"{verdict} (expected {expect}: {tail})"


def _header(data: RunData) -> list[str]:
    run = data.run
    facts = [f"run `{data.run_id}`"]
    for key, value in (("profile", run.profile), ("seed", run.seed), ("status", run.status)):
        if value is not None:
            facts.append(f"{key} {value}")
    if run.duration_s is not None:
        facts.append(f"duration {fmt_number(run.duration_s)} s")
    if run.replay_of:
        facts.append(f"replay of `{run.replay_of}`")
    lines = [f"# {data.scenario}: {verdict_line(data.result)}", "", " · ".join(facts), ""]
    trend = trend_href(data.run_dir, markdown=True)
    if trend:
        lines += [f"Night over night: [the trend]({trend})", ""]
    if run.error:
        lines += [f"> run error: {run.error}", ""]
    reasons = expectation_reasons(data.result)
    if reasons:
        lines += ["Not as expected because:", *(f"- {r}" for r in reasons), ""]
    if data.missing:
        lines += [f"_Missing from the run directory: {', '.join(data.missing)}._", ""]
    return lines + _load(data)


def _list(value: object) -> list[object]:
    """A JSON list of result.json, else empty."""
    return list(value) if isinstance(value, list) else []


def _load(data: RunData) -> list[str]:
    """The load's workers, when it had any; a degraded load is said before the verdicts."""
    load = data.result.load if data.result else {}
    workers = load.get("workers")
    if not isinstance(workers, list) or not workers:
        return []
    lines = []
    if load.get("degraded"):
        lines += [f"> **Load degraded**: {load.get('reason')}", ""]
    hosts = sorted({str(w.get("host") or "?") for w in workers})
    rows = sum(int(w.get("received") or 0) for w in workers)
    lines += [f"Load: {len(workers)} Locust worker(s) on {', '.join(hosts)}; {rows} rows "
              f"arrived at the master; workers lost: "
              f"{', '.join(map(str, _list(load.get('lost')))) or 'none'}.",
              ""]
    return lines


def _writes(data: RunData) -> list[str]:
    table, examples, verdict = write_table(data.result)
    lines = ["## Write accounting", "", f"Verdict: **{verdict}**", "", md_table(table)]
    for cls, keys in examples.items():
        shown = ", ".join(f"`{k}`" for k in keys[:_MAX_KEYS])
        more = f" and {len(keys) - _MAX_KEYS} more" if len(keys) > _MAX_KEYS else ""
        lines.append(f"- first {cls} keys: {shown}{more}")
    return lines + [""]


def _memory(data: RunData) -> list[str]:
    mem = data.result.memory if data.result else {}
    lines = ["## Memory", ""]
    if not mem:
        return lines + ["_No memory verdict in result.json._", ""]
    ci = _list(mem.get("ci95")) or [None, None]
    lines.append(
        f"Verdict: **{memory_words(data.result)}**: "
        f"RSS slope {fmt_value('memory_growth_mb_per_hour', mem.get('slope_mb_per_hour'))} "
        f"(95% CI {fmt_number(ci[0])} .. {fmt_number(ci[-1])}), peak RSS "
        f"{fmt_value('peak_rss_mb', _mb(mem.get('peak_rss_bytes')))}")
    sites = memory_sites(data.result)
    if sites:
        lines += ["", "| top growing site | size | growth | blocks | growing diffs |",
                  "|---|---|---|---|---|"]
        for site in sites[:_MAX_SITES]:
            lines.append(
                f"| `{_cell(str(site.get('site', '?')))}` | {fmt_bytes(site.get('size_bytes'))} | "
                f"{fmt_bytes(site.get('growth_bytes'), True)} | {fmt_number(site.get('count'))} | "
                f"{fmt_number(site.get('consecutive_diffs'))} |")
    return lines + [""]


def _mb(value: Any) -> float | None:
    return float(value) / (1024 * 1024) if isinstance(value, int | float) else None


def render_markdown(data: RunData, plots: Sequence[Plot]) -> str:
    """The whole ``report.md`` text (scrubbed of secrets)."""
    lines = _header(data)
    lines += ["## Verdicts", "", md_table(verdict_table(data.result))]
    lines += ["## Faults", "", md_table(fault_table(data.result, data.windows, data.end_s))]
    lines += _writes(data)
    lines += _memory(data)
    lines += ["## Replay", "", "```sh", replay_command(data.run_dir), "```", ""]
    drawn = [p for p in plots if p.path is not None]
    if drawn:
        lines += ["## Plots", ""]
        lines += [f"- [{p.title}](plots/{p.path.name})" for p in drawn if p.path]
        lines.append("")
    return data.scrubber.text("\n".join(lines))
