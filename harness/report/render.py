"""Render one run: ``report.md``, ``report.html``, ``plots/*.png`` and ``junit.xml``.

Loads the small files (:mod:`.rundata`), streams the big ones (:mod:`.series`),
draws the plots (:mod:`.plots`) and lays out the documents (:mod:`.markdown`,
:mod:`.html`, :mod:`.junit`), all through one :class:`~.scrub.Scrubber`.
"""

from __future__ import annotations

from pathlib import Path

from harness.errors import ReportError
from harness.report.html import render_html
from harness.report.junit import write_run_junit
from harness.report.markdown import render_markdown
from harness.report.plots import render_plots
from harness.report.rundata import RunData, load_run
from harness.report.scrub import Scrubber
from harness.report.series import RequestSeries, SampleSeries, request_series, sample_series
from harness.requests_file import requests_path

__all__ = ["load_series", "render_run"]


def load_series(run_dir: Path) -> tuple[RequestSeries | None, SampleSeries | None]:
    """Stream the run's requests and samples into per-second series (None when absent)."""
    req_path, samples_path = requests_path(run_dir), run_dir / "samples.jsonl"
    req = request_series(req_path) if req_path is not None else None
    samples = sample_series(samples_path) if samples_path.is_file() else None
    return req, samples


def _warmup_s(data: RunData) -> float:
    if data.run.warmup_s is not None:
        return data.run.warmup_s
    return next((e.t_s for e in data.timeline if e.event == "load_start"), 0.0)


def render_run(run_dir: Path, secrets: tuple[str, ...] = ()) -> list[Path]:
    """Render ``report.md``, ``report.html``, ``plots/*.png`` and ``junit.xml`` into ``run_dir``.

    ``secrets`` are extra literal values (the admin token the conductor used) to
    mask wherever they appear. Raises :class:`ReportError` naming the file when the
    directory is not a run directory or one of its files is malformed.
    """
    run_dir = Path(run_dir)
    scrubber = Scrubber(secrets)
    data = load_run(run_dir, scrubber)
    req, samples = load_series(run_dir)
    plots = render_plots(run_dir / "plots", req, samples, data.windows, data.end_s,
                         dict(data.result.memory) if data.result else {}, _warmup_s(data),
                         data.memory_diffs)
    if req is None:
        data.missing.append("requests.csv")
    if samples is None:
        data.missing.append("samples.jsonl")
    md_path, html_path = run_dir / "report.md", run_dir / "report.html"
    try:
        md_path.write_text(render_markdown(data, plots), encoding="utf-8")
        html_path.write_text(render_html(data, plots), encoding="utf-8")
    except OSError as exc:
        raise ReportError(f"{run_dir}: cannot write the report: {exc}") from exc
    junit = write_run_junit(data.scenario, data.result, run_dir / "junit.xml",
                            report=html_path, scrub=scrubber)
    return [md_path, html_path, junit] + [p.path for p in plots if p.path is not None]
