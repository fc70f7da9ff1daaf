"""Compare two runs side by side (``chaosharness compare RUN_A RUN_B``).

Typically the naive and the resilient profile on the same scenario: their
verdicts next to each other, every shared figure with its delta (B - A), and
throughput, error rate, p99 latency and RSS of both overlaid on one time axis
with both runs' fault windows shaded. Writes ``compare.md``, ``compare.html`` and
``plots/compare.png`` into ``out_dir``.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from harness.records import ResultRecord
from harness.report.html import embed_plots, html_page, html_table
from harness.report.markdown import md_table, verdict_line
from harness.report.plots import Plot, shade_faults
from harness.report.render import load_series
from harness.report.rundata import RunData, load_run
from harness.report.scrub import Scrubber
from harness.report.series import RequestSeries, SampleSeries
from harness.report.tables import Table, expected_to_fail, fmt_number, fmt_value, slo_outcome
from harness.verify.catalog import slo_id

__all__ = ["compare_runs", "delta_table", "verdicts_side_by_side"]

_COLOURS = ("#1f77b4", "#d62728")


def _label(tag: str, data: RunData) -> str:
    profile = data.run.profile
    return f"{tag}: {data.scenario}" + (f" ({profile})" if profile else "")


def _slos(result: ResultRecord | None) -> dict[str, Mapping[str, object]]:
    return {slo_id(str(s.get("name")), str(s.get("phase", "run"))): s
            for s in (result.slos if result else ())}


def verdicts_side_by_side(a: RunData, b: RunData) -> Table:
    """Every SLO of either run: threshold, then value and verdict of A and of B."""
    table = Table("Verdicts", ["SLO", "threshold", "A value", "A verdict", "B value",
                               "B verdict"])
    sa, sb = _slos(a.result), _slos(b.result)
    ea, eb = expected_to_fail(a.result), expected_to_fail(b.result)
    for key in list(sa) + [k for k in sb if k not in sa]:
        slo = sa.get(key) or sb[key]
        name = str(slo.get("name"))
        row = [key, str(slo.get("threshold_text") or slo.get("threshold"))]
        for slos, expect in ((sa, ea), (sb, eb)):
            one = slos.get(key)
            if one is None:
                row += ["", "not judged"]
                continue
            _, words = slo_outcome(one, expect)
            row += [fmt_value(name, one.get("value")), words]
        table.add(row)
    return table


def _metric_items(result: ResultRecord | None) -> dict[str, tuple[str, object]]:
    out: dict[str, tuple[str, object]] = {}
    for phase, values in (result.metrics if result else {}).items():
        for name, value in values.items():
            out[f"{name}@{phase}"] = (name, value)
    return out


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) \
        else None


def delta_table(a: RunData, b: RunData) -> Table:
    """Every metric either run has: A, B and B - A where both are numbers."""
    table = Table("Figures", ["metric", "A", "B", "delta (B - A)"])
    ma, mb = _metric_items(a.result), _metric_items(b.result)
    for key in list(ma) + [k for k in mb if k not in ma]:
        name = (ma.get(key) or mb[key])[0]
        va, vb = ma.get(key, (name, None))[1], mb.get(key, (name, None))[1]
        delta = ""
        fa, fb = _number(va), _number(vb)
        if fa is not None and fb is not None:
            delta = fmt_number(fb - fa)
            if fa and math.isfinite(fa):
                delta += f" ({100.0 * (fb - fa) / abs(fa):+.1f}%)"
        table.add([key, fmt_value(name, va), fmt_value(name, vb), delta])
    return table


def _overlay(runs: list[tuple[str, RunData]], path: Path) -> Path | None:
    """Throughput, error rate, p99 and RSS of both runs on one time axis."""
    series: list[tuple[str, RunData, RequestSeries | None, SampleSeries | None]] = [
        (label, data, *load_series(data.run_dir)) for label, data in runs]
    if not any(req or smp for _, _, req, smp in series):
        return None
    fig = Figure(figsize=(10.0, 9.6), dpi=96, layout="constrained")
    FigureCanvasAgg(fig)
    axes: list[Axes] = [fig.add_subplot(4, 1, i + 1) for i in range(4)]
    for ax in axes[1:]:
        ax.sharex(axes[0])
    for (label, data, req, smp), colour in zip(series, _COLOURS, strict=False):
        if req is not None:
            axes[0].plot(req.t_s, req.requests, color=colour, lw=1.1, label=label)
            axes[1].plot(req.t_s, req.error_rate, color=colour, lw=1.1, label=label)
            axes[2].plot(req.t_s, req.p99_ms, color=colour, lw=1.1, label=label)
        if smp is not None and smp.has(smp.rss_mb):
            axes[3].plot(smp.t_s, smp.rss_mb, color=colour, lw=1.1, label=label)
        for ax in axes:
            shade_faults(ax, data.windows, data.end_s, label=ax is axes[0])
    for ax, ylabel in zip(axes, ("requests/s", "errors %", "p99 ms", "RSS MB"), strict=True):
        ax.set_ylabel(ylabel)
        ax.grid(True, alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=8, frameon=False)
    axes[0].set_title("A vs B on one time axis")
    axes[-1].set_xlabel("t (s since run start)")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    return path


def compare_runs(a: Path, b: Path, out_dir: Path, secrets: tuple[str, ...] = ()) -> list[Path]:
    """Render ``compare.md``, ``compare.html`` and ``plots/compare.png`` for runs A and B."""
    scrub = Scrubber(secrets)
    da, db = load_run(Path(a), scrub), load_run(Path(b), scrub)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    la, lb = _label("A", da), _label("B", db)
    if la[1:] == lb[1:]:  # same scenario and profile: tell the runs apart by id
        la, lb = f"{la} [{da.run_id}]", f"{lb} [{db.run_id}]"
    png = _overlay([(la, da), (lb, db)], out_dir / "plots" / "compare.png")
    verdicts, deltas = verdicts_side_by_side(da, db), delta_table(da, db)
    heads = [f"- **{la}**: {verdict_line(da.result)}: `{da.run_dir}`",
             f"- **{lb}**: {verdict_line(db.result)}: `{db.run_dir}`"]
    md = "\n".join([f"# Compare {da.scenario} vs {db.scenario}", "", *heads, "",
                    "## Verdicts", "", md_table(verdicts), "## Figures", "", md_table(deltas)]
                   + (["## Overlay", "", "![A vs B](plots/compare.png)", ""] if png else []))
    plot = Plot("compare", "A vs B", png)
    body = "".join([
        f"<h1>Compare {html.escape(da.scenario)} vs {html.escape(db.scenario)}</h1><ul>",
        *_html_heads([(la, da), (lb, db)]), "</ul>",
        "<h2>Verdicts</h2>", html_table(verdicts),
        "<h2>Overlay</h2><!--plot:compare-->" if png else "",
        "<h2>Figures</h2>", html_table(deltas),
    ])
    md_path, html_path = out_dir / "compare.md", out_dir / "compare.html"
    md_path.write_text(scrub.text(md), encoding="utf-8")
    page = scrub.text(html_page(f"compare {da.scenario} vs {db.scenario}", body))
    html_path.write_text(embed_plots(page, [plot]), encoding="utf-8")
    return [md_path, html_path] + ([png] if png else [])


def _html_heads(runs: list[tuple[str, RunData]]) -> list[str]:
    return [f"<li><strong>{html.escape(label)}</strong>: {html.escape(verdict_line(d.result))}: "
            f"<code>{html.escape(str(d.run_dir))}</code></li>" for label, d in runs]
