"""A suite's summary: ``summary.md``, ``summary.html`` and one combined ``junit.xml``.

Reads ``suite.json`` (written by the suite runner: ``{"suite": name, "runs":
[{"scenario", "run_dir", "expect", "verdict", "as_expected", "exit_code"}]}``)
and each run's ``result.json``; one row per scenario with what was expected,
the verdict, the key figures and a link to its report. Run directories are
linked relative to the suite directory when they sit under it.
"""

from __future__ import annotations

import html
import json
import os
from pathlib import Path

from harness.report.html import html_page
from harness.report.junit import SuiteEntry, write_suite_junit
from harness.report.markdown import md_table
from harness.report.scrub import Scrubber
from harness.report.seed_metrics import render_seed_metrics
from harness.report.suite_runs import SuiteRun, load_suite_runs
from harness.report.tables import Table, fmt_value
from harness.report.trend_link import trend_href

__all__ = ["KEY_FIGURES", "render_suite"]

#: (metric, phase) pairs shown for every run of a suite, in column order.
KEY_FIGURES: tuple[tuple[str, str], ...] = (
    ("availability", "run"),
    ("p99_latency_ms", "run"),
    ("recovery_seconds", "run"),
    ("lost_writes", "run"),
    ("duplicated_writes", "run"),
    ("memory_growth_mb_per_hour", "run"),
)


def _link(suite_dir: Path, run: SuiteRun, name: str) -> str | None:
    if run.run_dir is None or not (run.run_dir / name).is_file():
        return None
    return os.path.relpath(run.run_dir / name, suite_dir)


def summary_table(suite_dir: Path, runs: list[SuiteRun]) -> Table:
    """One row per scenario: expected, verdict, as expected, key figures."""
    header = ["scenario", "profile", "expected", "verdict", "as expected"]
    table = Table("Suite summary", header + [m for m, _ in KEY_FIGURES] + ["report"],
                  mark_col=header.index("as expected"))
    for run in runs:
        expect = str((run.result.expect if run.result else None) or run.entry.get("expect")
                     or "pass")
        if run.entry.get("gating") is False:
            expect += " (not gating)"
        profile = str(run.entry.get("profile") or (run.result.profile if run.result else None)
                      or "")
        run_status = str(run.entry.get("status") or (run.result.run_status if run.result else None)
                         or "complete")
        stopped = run_status in ("incomplete", "failed")  # exit 2 whatever its partial verdict
        ok = None if stopped else run.as_expected
        figures = [fmt_value(m, run.result.metric(m, p)) if run.result else ""
                   for m, p in KEY_FIGURES]
        link = _link(suite_dir, run, "report.html") or run.problem or "no report"
        status = "pass" if ok else "fail" if ok is False else "unknown"
        verdict = run_status if stopped else run.verdict
        table.add([run.scenario, profile, expect, verdict, "yes" if ok else "no" if ok is False else
                   "not judged"] + figures + [link], status)
    return table


def _md_links(table: Table) -> Table:
    """Markdown variant: report paths become links."""
    rows = [r[:-1] + [f"[report]({r[-1]})" if r[-1].endswith(".html") else r[-1]]
            for r in table.rows]
    return Table(table.title, table.header, rows, table.status, table.note, table.mark_col)


def _html_body(name: str, table: Table, passed: int) -> str:
    rows = []
    for row, status in zip(table.rows, table.status, strict=True):
        cells = [f"<td>{_esc(c)}</td>" for c in row[:-1]]
        last = row[-1]
        cells.append(f'<td><a href="{_esc(last)}">report</a></td>' if last.endswith(".html")
                     else f"<td>{_esc(last)}</td>")
        rows.append(f'<tr class="{status}">{"".join(cells)}</tr>')
    head = "".join(f"<th>{_esc(h)}</th>" for h in table.header)
    return (f"<h1>Suite {_esc(name)}: {passed}/{len(table.rows)} as expected</h1>"
            f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>")


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def _stop_note(suite_dir: Path) -> str:
    """What a stopped suite did not run, from ``suite.json`` (empty for a suite that ran whole)."""
    try:
        doc = json.loads((suite_dir / "suite.json").read_text())
    except (OSError, ValueError):
        return ""
    if not isinstance(doc, dict) or not doc.get("stopped_by"):
        return ""
    not_run = [str(x) for x in doc.get("not_run") or []]
    return (f"Stopped by {doc['stopped_by']}: the scenario under way was wound down (incomplete); "
            + (f"not run: {', '.join(not_run)}." if not_run else "every scenario had started."))


def render_suite(suite_dir: Path, runs: list[Path], secrets: tuple[str, ...] = ()) -> list[Path]:
    """Write ``summary.md``, ``summary.html`` and the combined ``junit.xml`` into ``suite_dir``.

    A suite named ``seed-metrics*`` also gets the seeds' before/after table
    (``seed-metrics.md`` / ``.html``, :mod:`harness.report.seed_metrics`).
    """
    suite_dir = Path(suite_dir)
    suite_dir.mkdir(parents=True, exist_ok=True)
    scrub = Scrubber(secrets)
    name, suite_runs = load_suite_runs(suite_dir, [Path(r) for r in runs], scrub)
    table = summary_table(suite_dir, suite_runs)
    passed = table.status.count("pass")
    note = _stop_note(suite_dir)
    trend_md, trend_html = trend_href(suite_dir, markdown=True), trend_href(suite_dir)
    md = (f"# Suite {name}: {passed}/{len(suite_runs)} as expected\n\n"
          + (f"Night over night: [the trend]({trend_md})\n\n" if trend_md else "")
          + (f"{note}\n\n" if note else "") + md_table(_md_links(table)))
    md_path, html_path = suite_dir / "summary.md", suite_dir / "summary.html"
    md_path.write_text(scrub.text(md), encoding="utf-8")
    body = _html_body(name, table, passed) + (f"<p>{_esc(note)}</p>" if note else "")
    if trend_html:
        body += (f'<p id="trend-link">Night over night: <a href="{_esc(trend_html)}">the trend'
                 "</a></p>")
    html_path.write_text(scrub.text(html_page(f"suite {name}", body)), encoding="utf-8")
    entries = [SuiteEntry(r.scenario, r.result,
                          (r.run_dir / "report.html") if r.run_dir else None, r.problem)
               for r in suite_runs]
    junit = write_suite_junit(name, entries, suite_dir / "junit.xml", scrub)
    paths = [md_path, html_path, junit]
    if name.startswith("seed-metrics"):
        seed_md = render_seed_metrics(suite_dir, secrets)
        paths += [seed_md, seed_md.with_suffix(".html")]
    return paths
