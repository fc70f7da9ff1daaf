"""``report.html``: one self-contained page a person reads after a run.

Plots are embedded as base64 PNG data URIs and the style sheet is inline, so the
file can be mailed, attached to a CI job or opened from a copied run directory
with no network fetch and no script. The layout is one column at most 1100 px
wide, images scale down, long keys and tracebacks wrap: nothing scrolls sideways.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Sequence
from pathlib import Path

from harness.records import ResultRecord
from harness.report.markdown import verdict_line
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
    metrics_table,
    phase_table,
    verdict_table,
    write_table,
)
from harness.report.trend_link import trend_href

__all__ = ["CSS", "embed_plots", "html_page", "html_table", "img_tag", "render_html",
           "windows_caption"]

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d1d1f;
background:#fafafa}
main{max-width:1100px;margin:0 auto;padding:16px 20px 48px;box-sizing:border-box}
h1{font-size:1.5em;margin:.4em 0}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;width:100%;margin:.5em 0;font-size:.92em;table-layout:auto}
th,td{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top;
overflow-wrap:anywhere;word-break:break-word}
th{background:#f0f0f0}
tr.pass td:last-child{color:#17692e;font-weight:600}
tr.fail td{background:#fde8e8}tr.fail td:last-child{color:#b00020;font-weight:700}
tr.unknown td:last-child{color:#8a6d00;font-weight:600}
.badge{display:inline-block;padding:2px 10px;border-radius:12px;color:#fff;font-weight:700}
.badge.pass{background:#17692e}.badge.fail{background:#b00020}.badge.unknown{background:#8a6d00}
img{max-width:100%;height:auto;display:block;margin:.5em 0;background:#fff}
pre,code{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:.88em}
pre{white-space:pre-wrap;overflow-wrap:anywhere;background:#f4f4f4;padding:8px;margin:.3em 0}
.note{color:#555;font-style:italic}.facts{color:#444}
details{margin:.3em 0}summary{cursor:pointer}
"""

_MAX_KEYS = 20
_MAX_SITES = 10


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def html_table(table: Table, caption: bool = False) -> str:
    """A table with one CSS class per row status (pass/fail/unknown)."""
    if not table.rows:
        return f'<p class="note">{_e(table.note or "nothing to show")}</p>'
    head = "".join(f"<th>{_e(h)}</th>" for h in table.header)
    body = []
    for row, status in zip(table.rows, table.status, strict=True):
        cells = "".join(f"<td>{_e(c)}</td>" for c in row)
        body.append(f'<tr class="{_e(status)}">{cells}</tr>' if status else f"<tr>{cells}</tr>")
    cap = f"<caption>{_e(table.title)}</caption>" if caption else ""
    note = f'<p class="note">{_e(table.note)}</p>' if table.note else ""
    return (f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
            f"{note}")


def img_tag(path: Path, alt: str) -> str:
    """An ``<img>`` with the PNG inlined as a data URI."""
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{_e(alt)}" data-plot="{_e(path.stem)}" src="data:image/png;base64,{data}">'


def _placeholder(plot: Plot) -> str:
    return f"<!--plot:{plot.stem}-->"


def embed_plots(page: str, plots: Sequence[Plot]) -> str:
    """Replace each plot's placeholder with its inlined image.

    Done after scrubbing, so the secret patterns never scan (or mangle) base64 data.
    """
    for plot in plots:
        if plot.path is not None:
            page = page.replace(_placeholder(plot), img_tag(plot.path, plot.title), 1)
    return page


def _plot_section(plot: Plot | None, extra: str = "") -> str:
    if plot is None:
        return ""
    body = _placeholder(plot) if plot.path else \
        f'<p class="note">No plot: {_e(plot.note)}.</p>'
    return f'<section id="{_e(plot.stem)}"><h2>{_e(plot.title)}</h2>{body}{extra}</section>'


def windows_caption(data: RunData) -> str:
    """The shaded fault windows in words, under every time plot."""
    if not data.windows:
        return '<p class="note">No fault windows in this run.</p>'
    spans = []
    for win in data.windows:
        end_s = win.removed_s if win.removed_s is not None else data.end_s
        end = fmt_number(end_s) if end_s is not None else "end"
        spans.append(f"{win.label} ({fmt_number(win.applied_s)} to {end} s)")
    return f'<p class="windows">Shaded fault windows: {_e("; ".join(spans))}</p>'


def _badge(result: ResultRecord | None) -> str:
    verdict = result.verdict if result else "unknown"
    cls = verdict if verdict in ("pass", "fail") else "unknown"
    return f'<span class="badge {cls}">{_e(verdict_line(result))}</span>'


def _header(data: RunData) -> str:
    run = data.run
    facts = [f"run <code>{_e(data.run_id)}</code>"]
    for key, value in (("profile", run.profile), ("seed", run.seed), ("status", run.status),
                       ("started_wall", run.started_wall)):
        if value is not None:
            facts.append(f"{_e(key)} {_e(value)}")
    if run.duration_s is not None:
        facts.append(f"duration {_e(fmt_number(run.duration_s))} s")
    if run.replay_of:
        facts.append(f"replay of <code>{_e(run.replay_of)}</code>")
    out = [f"<h1>{_e(data.scenario)} {_badge(data.result)}</h1>",
           f'<p class="facts">{" · ".join(facts)}</p>',
           f"<p>Replay: <code>{_e(replay_command(data.run_dir))}</code></p>"]
    trend = trend_href(data.run_dir)
    if trend:
        out.append(f'<p id="trend-link">Night over night: <a href="{_e(trend)}">the trend</a></p>')
    if run.error:
        out.append(f'<p class="note">Run error: {_e(run.error)}</p>')
    reasons = expectation_reasons(data.result)
    if reasons:
        items = "".join(f"<li>{_e(r)}</li>" for r in reasons)
        out.append(f'<div id="expectation"><p>Not as expected because:</p><ul>{items}</ul></div>')
    if data.missing:
        out.append(f'<p class="note">Missing from the run directory: {_e(", ".join(data.missing))}'
                   "</p>")
    return "".join(out)


def _writes_section(data: RunData) -> str:
    table, examples, verdict = write_table(data.result)
    parts = [f'<section id="writes"><h2>Write accounting: {_e(verdict)}</h2>', html_table(table)]
    for cls, keys in examples.items():
        shown = ", ".join(f"<code>{_e(k)}</code>" for k in keys[:_MAX_KEYS])
        more = f" and {len(keys) - _MAX_KEYS} more" if len(keys) > _MAX_KEYS else ""
        parts.append(f"<p>First {_e(cls)} keys: {shown}{_e(more)}</p>")
    attempts = data.result.writes.get("lost_attempts") if data.result else None
    if isinstance(attempts, dict) and attempts:
        text = json.dumps(attempts, indent=1, default=str)
        parts.append("<details><summary>Every recorded attempt of the first lost keys</summary>"
                     f"<pre>{_e(text)}</pre></details>")
    return "".join(parts) + "</section>"


def _memory_extra(data: RunData) -> str:
    mem = data.result.memory if data.result else {}
    if not mem:
        return '<p class="note">No memory verdict in result.json.</p>'
    ci = mem.get("ci95")
    ci = ci if isinstance(ci, list) and ci else [None, None]
    words = memory_words(data.result)
    peak = mem.get("peak_rss_bytes")
    out = [f"<p>Memory verdict: <strong>{_e(words)}</strong>; RSS slope "
           f"{_e(fmt_value('memory_growth_mb_per_hour', mem.get('slope_mb_per_hour')))} "
           f"(95% CI {_e(fmt_number(ci[0]))} .. {_e(fmt_number(ci[-1]))}); peak RSS "
           f"{_e(fmt_bytes(peak))}.</p>"]
    sites = memory_sites(data.result)
    if sites:
        out.append('<h3 id="alloc-sites">Top growing allocation sites</h3>')
    for site in sites[:_MAX_SITES]:
        trace = site.get("traceback") or []
        lines = "\n".join(str(x) for x in trace) if isinstance(trace, list) else str(trace)
        out.append(
            f"<details><summary><code>{_e(site.get('site', '?'))}</code>: "
            f"{_e(fmt_bytes(site.get('size_bytes')))} "
            f"({_e(fmt_bytes(site.get('growth_bytes'), True))}), "
            f"{_e(fmt_number(site.get('count')))} blocks, growing in "
            f"{_e(fmt_number(site.get('consecutive_diffs')))} consecutive diffs</summary>"
            f"<pre>{_e(lines or 'no traceback recorded')}</pre></details>")
    return "".join(out)


def html_page(title: str, body: str) -> str:
    """A complete self-contained HTML document around ``body``."""
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{_e(title)}</title><style>{CSS}</style></head>"
            f"<body><main>{body}</main></body></html>\n")


def render_html(data: RunData, plots: Sequence[Plot]) -> str:
    """The whole ``report.html`` text (scrubbed of secrets)."""
    by_stem = {p.stem: p for p in plots}
    caption = windows_caption(data)
    body = [
        _header(data),
        '<section id="verdicts"><h2>Verdicts</h2>', html_table(verdict_table(data.result)),
        "</section>",
        '<section id="faults"><h2>Faults</h2>',
        html_table(fault_table(data.result, data.windows, data.end_s)), "</section>",
        _plot_section(by_stem.get("throughput_errors"), caption),
        _plot_section(by_stem.get("latency"), caption),
        _plot_section(by_stem.get("memory"), caption + _memory_extra(data)),
        _plot_section(by_stem.get("pool_breaker"), caption),
        _plot_section(by_stem.get("pg_connections"), caption),
        _writes_section(data),
        '<section id="metrics"><h2>All metrics</h2>', html_table(metrics_table(data.result)),
        "</section>",
        '<section id="phases"><h2>Phases</h2>', html_table(phase_table(data.result)),
        "</section>",
    ]
    page = data.scrubber.text(html_page(f"chaosharness: {data.scenario}", "".join(body)))
    return embed_plots(page, plots)
