"""``trend.md`` and ``trend.html``: the nights of every scenario, uptime, regressions.

Both documents are laid out from the same :class:`~harness.report.tables.Table` rows,
so they always say the same thing. ``trend.html`` is self-contained like a run's
report (inline style sheet, one matplotlib PNG per scenario inlined as base64, no
script); the PNGs are also written to ``trend-plots/`` for ``trend.md`` to link.
Ongoing regressions come first, each with the report of the night it began and the
``chaosharness compare`` command line against the last good night.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Sequence
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from harness.report.html import embed_plots, html_page, html_table
from harness.report.markdown import md_table
from harness.report.plots import Plot
from harness.report.scrub import Scrubber
from harness.report.tables import Table, fmt_bytes, fmt_number, fmt_value
from harness.report.trend import Trend, flagged_rules
from harness.report.trend_data import PLOTS_DIR
from harness.report.trend_rules import Episode, Night, Rules

__all__ = ["render_trend", "rules_text", "uptime_table"]

_P99_COLUMNS = ("steady", "fault", "recovery", "run")


def _pct(value: float | None, digits: int = 4) -> str:
    return "n/a" if value is None else f"{fmt_number(100.0 * value, digits)}%"


def _secs(value: float | None) -> str:
    if value is None:
        return "n/a"
    return "never recovered" if math.isinf(value) else f"{fmt_number(value)} s"


def _minutes(value: float | None) -> str:
    return "n/a" if value is None else f"{fmt_number(value)} min"


def rules_text(rules: Rules, slo: float) -> list[str]:
    """The rules in words (one paragraph each), from the numbers actually used."""
    return [
        f"Baseline: for each night and rule, the up to {rules.window} most recent earlier "
        "nights that have a value for the rule and were not flagged by it; a rule says "
        f"nothing until {rules.min_baseline} such nights exist. A flagged night never "
        "joins the baseline, so a regression stays flagged until it is fixed.",
        "verdict: not as expected (pass -> fail, or a negative control that stopped "
        "failing) after an as-expected night.",
        f"recovery: the worst recovery of the night > {rules.recovery_factor:g}x the "
        f"baseline median and at least {rules.recovery_floor_s:g} s above it; a fault that "
        "never recovered counts as infinitely slow.",
        f"p99@phase ({', '.join(rules.p99_phases)}): p99 latency > {rules.p99_factor:g}x the "
        f"baseline median and at least {rules.p99_floor_ms:g} ms above it.",
        "memory: the RSS slope above the earlier nights' band, i.e. above the largest "
        "upper 95% bound of the baseline nights' slopes; only nights whose memory trend "
        "verify judged (120 s of samples or more) count.",
        f"Uptime against {_pct(slo)}: only steady phases are meant to be available "
        "(warm-up precedes judging; fault and recovery windows are outages the scenario "
        "causes on purpose). Per night: steady minutes = the length of its steady phases, "
        "down minutes = steady minutes x (1 - steady uptime), steady uptime being the "
        "share of samples with readiness 200, or of ok requests for a target without "
        f"probes. Budget = (1 - SLO) x steady minutes observed in the window "
        f"({1.0 - slo:.4g} x); spent = down minutes. Negative controls are not counted.",
        "A regression is ongoing (exit 1) when a scenario's last night is flagged; one that "
        "ended earlier is listed, not paged. Windows count back from the last night's start.",
    ]


def uptime_table(trend: Trend) -> Table:
    """One row per scope (all scenarios, then each) and window."""
    table = Table(f"Uptime against {_pct(trend.slo)}",
                  ["scope", "window", "nights", "steady minutes", "uptime", "budget",
                   "spent", "budget used", "SLO"])
    for key in ["all", *trend.scenarios]:
        nights = trend.scenarios.get(key, [])
        if nights and all(n.negative_control for n in nights):
            table.add([key, "-", str(len(nights)), "-", "-", "-", "-", "-",
                       "negative control: not counted"])
            continue
        for window, u in trend.uptime.get(key, {}).items():
            met = u.get("met")
            row = ["all scenarios" if key == "all" else key, window,
                   f"{u['nights']}" + (f" (+{u['not_measured']} not measured)"
                                       if u.get("not_measured") else ""),
                   _minutes(u["steady_minutes"]), _pct(u["uptime"], 5),
                   _minutes(u["budget_minutes"]), _minutes(u["spent_minutes"]),
                   _pct(u["budget_used"], 3),
                   "not measured" if met is None else ("met" if met else "MISSED")]
            table.add(row, "" if met is None else ("pass" if met else "fail"))
    return table


def _episode_table(title: str, episodes: Sequence[Episode]) -> Table:
    table = Table(title, ["scenario", "rule", "began", "nights", "why", "report of that night",
                          "compare with the last good night"])
    for ep in episodes:
        table.add([ep.scenario, ep.rule, ep.first.started.strftime("%Y-%m-%d %H:%M:%SZ"),
                   str(len(ep.flags)), ep.flags[0].reason, str(ep.first.run_dir / "report.html"),
                   ep.compare_command or "no good night before it on record"],
                  "fail" if ep.ongoing else "")
    table.mark_col = 1  # the rule, not the command line, is shouted in Markdown
    if not episodes:
        table.note = "none"
    return table


def _verdict_words(n: Night) -> str:
    if not n.judged:
        return f"not judged ({n.run_status})"
    tail = "as expected" if n.as_expected else "NOT as expected"
    return f"{n.verdict} (expect {n.expect}: {tail})"


def _memory_words(n: Night) -> str:
    if n.mem_slope is None:
        return "n/a"
    text = f"{fmt_number(n.mem_slope)} MB/h"
    if n.mem_ci:
        text += f" [{fmt_number(n.mem_ci[0])}, {fmt_number(n.mem_ci[1])}]"
    return text + ("" if n.mem_judged else " (too short to judge)")


def _rel(path: Path, root: Path) -> str:
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


def nights_table(trend: Trend, key: str) -> Table:
    """One row per night of one scenario, oldest first."""
    flags = flagged_rules(trend, key)
    table = Table(key, ["night", "run", "verdict", "availability steady / run", "recovery",
                        "detect", *[f"p99 {p}" for p in _P99_COLUMNS], "lost / dup writes",
                        "RSS slope [95% CI]", "peak RSS", "flags"])
    for n in trend.scenarios[key]:
        flagged = flags.get(n.run_dir, [])
        writes = f"{fmt_number(n.lost_writes)} / {fmt_number(n.duplicated_writes)}"
        table.add([
            n.started.strftime("%Y-%m-%d %H:%M:%SZ"), _rel(n.run_dir, trend.reports_dir),
            _verdict_words(n),
            f"{fmt_value('availability', n.availability.get('steady'))} / "
            f"{fmt_value('availability', n.availability.get('run'))}",
            _secs(n.recovery_s), _secs(n.detect_s),
            *[fmt_value("p99_latency_ms", n.p99_ms.get(p)) for p in _P99_COLUMNS],
            writes, _memory_words(n), fmt_bytes(n.peak_rss_bytes),
            ", ".join(flagged) or ("; ".join(n.notes) if n.notes else "-"),
        ], "fail" if flagged else ("pass" if n.judged and n.as_expected else ""))
    return table


def _skipped_table(trend: Trend) -> Table:
    table = Table("Skipped directories", ["directory", "why"])
    for s in trend.skipped:
        table.add([str(s.path), s.reason])
    table.note = "" if trend.skipped else "none: every directory was read"
    return table


# ---- plots -------------------------------------------------------------------------------


def _stem(key: str, i: int) -> str:
    return f"trend-{i:02d}-" + re.sub(r"[^A-Za-z0-9_.-]+", "_", key).strip("_")


def _series(ax: Axes, xs: list[int], ys: list[float | None], bad: set[int], label: str,
            ylabel: str) -> None:
    points = [(x, y) for x, y in zip(xs, ys, strict=True) if y is not None and math.isfinite(y)]
    if points:
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", ms=4, lw=1.2,
                color="#1f77b4", label=label)
    red = [(x, y) for x, y in points if x in bad]
    if red:
        ax.plot([p[0] for p in red], [p[1] for p in red], ls="", marker="o", ms=9,
                mfc="none", mec="#d62728", mew=2, label="regression")
    never = [x for x, y in zip(xs, ys, strict=True) if y is not None and math.isinf(y)]
    for x in never:
        ax.axvline(x, color="#d62728", ls=":", lw=1.5)
    if not points and not never:
        ax.text(0.5, 0.5, f"{label}: not measured on any night", transform=ax.transAxes,
                ha="center", va="center", color="grey")
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", fontsize=7, frameon=False)


def _bad(trend: Trend, key: str, prefix: str) -> set[int]:
    return {f.index for ep in trend.episodes.get(key, []) if ep.rule.startswith(prefix)
            for f in ep.flags}


def plot_scenario(trend: Trend, key: str, path: Path) -> Path | None:
    """Availability, recovery, p99 and memory slope night over night; regressions ringed."""
    nights = trend.scenarios[key]
    if not nights:
        return None
    xs = list(range(len(nights)))
    fig = Figure(figsize=(10.0, 7.2), dpi=96, layout="constrained")
    FigureCanvasAgg(fig)
    axes = [fig.add_subplot(4, 1, i + 1) for i in range(4)]
    for ax in axes[1:]:
        ax.sharex(axes[0])
    avail = [None if n.availability.get("steady") is None else
             100.0 * float(n.availability["steady"] or 0.0) for n in nights]
    _series(axes[0], xs, avail, set(), "availability (steady)", "%")
    _series(axes[1], xs, [n.recovery_s for n in nights], _bad(trend, key, "recovery"),
            "worst recovery", "s")
    _series(axes[2], xs, [n.p99_ms.get("steady") for n in nights], _bad(trend, key, "p99"),
            "p99 (steady)", "ms")
    _series(axes[3], xs, [n.mem_slope if n.mem_judged else None for n in nights],
            _bad(trend, key, "memory"), "RSS slope (judged nights)", "MB/h")
    for x, n in zip(xs, nights, strict=True):
        if n.mem_judged and n.mem_ci and n.mem_slope is not None:
            axes[3].vlines(x, n.mem_ci[0], n.mem_ci[1], color="#1f77b4", alpha=0.4, lw=3)
    for x, n in zip(xs, nights, strict=True):
        if n.judged and n.as_expected is False:
            for ax in axes:
                ax.axvspan(x - 0.4, x + 0.4, color="#d62728", alpha=0.08, lw=0)
    axes[0].set_title(f"{key}: night over night (shaded: not as expected)")
    days = [n.started.strftime("%m-%d") for n in nights]
    if len(set(days)) < len(days):  # more than one night a day: tell them apart
        days = [n.started.strftime("%m-%d %H:%M") for n in nights]
    axes[-1].set_xticks(xs, days,
                        rotation=45 if len(xs) > 10 else 0, fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    return path


# ---- documents ---------------------------------------------------------------------------


def _headline(trend: Trend) -> str:
    nights = sum(len(v) for v in trend.scenarios.values())
    if trend.as_of is None:
        return "No nights found."
    ongoing = trend.ongoing
    state = (f"REGRESSED: {len(ongoing)} ongoing regression(s) on the last night (exit 1)"
             if ongoing else "No regression on any scenario's last night (exit 0)")
    return (f"{state}. {nights} nights of {len(trend.scenarios)} scenarios up to "
            f"{trend.as_of.isoformat()} (since {fmt_number(trend.since_s / 86400.0)} days"
            + (f"; {trend.excluded} older nights left out" if trend.excluded else "")
            + f"); {len(trend.skipped)} directories skipped.")


def _sections(trend: Trend) -> list[tuple[str, Table]]:
    eps = [e for v in trend.episodes.values() for e in v]
    return [("ongoing", _episode_table("Ongoing regressions (the last night)",
                                       [e for e in eps if e.ongoing])),
            ("uptime", uptime_table(trend)),
            ("past", _episode_table("Earlier regressions (ended)",
                                    [e for e in eps if not e.ongoing]))]


def _markdown(trend: Trend, plots: dict[str, Plot], out_dir: Path) -> str:
    lines = [f"# Trend of `{trend.reports_dir}`", "", _headline(trend), ""]
    for anchor, table in _sections(trend):
        lines += [f"## {table.title}", "", md_table(table)]
        if anchor == "ongoing":
            lines += [f"- {ep.scenario} / {ep.rule}: `{ep.compare_command}`"
                      for ep in trend.ongoing if ep.compare_command] + [""]
    for key in trend.scenarios:
        lines += [f"## Scenario {key}", "", md_table(nights_table(trend, key))]
        plot = plots.get(key)
        if plot and plot.path:
            rel = plot.path.relative_to(out_dir) if plot.path.is_relative_to(out_dir) else plot.path
            lines += [f"![{key}]({rel})", ""]
    lines += ["## Skipped directories", "", md_table(_skipped_table(trend)), "## Rules", ""]
    lines += [f"- {p}" for p in rules_text(trend.rules, trend.slo)]
    return "\n".join(lines) + "\n"


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _html(trend: Trend, plots: dict[str, Plot]) -> str:
    body = [f"<h1>Trend of <code>{_e(trend.reports_dir)}</code></h1>",
            f'<p id="headline">{_e(_headline(trend))}</p>']
    for anchor, table in _sections(trend):
        body += [f'<section id="{anchor}"><h2>{_e(table.title)}</h2>', html_table(table),
                 "</section>"]
    for i, key in enumerate(trend.scenarios):
        plot = plots.get(key)
        img = f"<!--plot:{plot.stem}-->" if plot and plot.path else ""
        body += [f'<section id="scenario-{i}"><h2>Scenario {_e(key)}</h2>', img,
                 html_table(nights_table(trend, key)), "</section>"]
    body += ['<section id="skipped"><h2>Skipped directories</h2>',
             html_table(_skipped_table(trend)), "</section>",
             '<section id="rules"><h2>Rules</h2><ul>',
             *[f"<li>{_e(p)}</li>" for p in rules_text(trend.rules, trend.slo)],
             "</ul></section>"]
    return "".join(body)


def render_trend(trend: Trend, out_dir: Path) -> list[Path]:
    """Write ``trend.md``, ``trend.html`` and ``trend-plots/*.png`` into ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    plots: dict[str, Plot] = {}
    for i, key in enumerate(trend.scenarios):
        stem = _stem(key, i)
        path = plot_scenario(trend, key, out_dir / PLOTS_DIR / f"{stem}.png")
        plots[key] = Plot(stem, key, path)
    # Only names, paths and figures are read, never evidence; environment literals are not
    # masked, so the compare command lines keep their paths.
    scrub = Scrubber(from_environ=False)
    md_path, html_path = out_dir / "trend.md", out_dir / "trend.html"
    md_path.write_text(scrub.text(_markdown(trend, plots, out_dir)), encoding="utf-8")
    page = scrub.text(html_page(f"chaosharness trend: {trend.reports_dir}", _html(trend, plots)))
    html_path.write_text(embed_plots(page, list(plots.values())), encoding="utf-8")
    return [md_path, html_path, *[p.path for p in plots.values() if p.path]]

