"""A run's report and a suite's summary link the trend page once ``chaosharness trend`` has
written one into their reports directory (``trend.html``, or ``trend/trend.html`` as the
nightly CI workflow writes it), by a relative link that resolves; without one, no link."""

from __future__ import annotations

import json
import re
from pathlib import Path

from report_rundirs import make_run_dir, result_doc

from harness.cli import main
from harness.report import render_run, render_suite


def _href(page: Path) -> str | None:
    m = re.search(r'<p id="trend-link">Night over night: <a href="([^"]+)">', page.read_text())
    return m[1] if m else None


def _md_link(page: Path) -> str | None:
    m = re.search(r"Night over night: \[the trend\]\(([^)]+)\)", page.read_text())
    return m[1] if m else None


def test_a_run_report_links_the_trend_page_of_its_reports_dir(tmp_path: Path) -> None:
    """Rendered before any trend: no link. After `chaosharness trend REPORTS_DIR`, the
    re-rendered report links ../trend.html (HTML) and ../trend.md (markdown)."""
    reports = tmp_path / "reports"
    run_dir = make_run_dir(reports, "db-restart",
                           result=result_doc("db-restart", "pass", availability=0.9995, lost=0))
    render_run(run_dir)
    assert _href(run_dir / "report.html") is None and _md_link(run_dir / "report.md") is None
    assert "the trend" not in (run_dir / "report.md").read_text()
    assert main(["trend", str(reports)]) in (0, 1)
    render_run(run_dir)
    assert _href(run_dir / "report.html") == "../trend.html"
    assert _md_link(run_dir / "report.md") == "../trend.md"
    assert (run_dir / "../trend.html").resolve().is_file()


def test_a_suite_summary_and_its_runs_link_the_ci_trend_page(tmp_path: Path) -> None:
    """The CI layout: `trend reports --out reports/trend`. The suite's summary (md and html)
    links ../trend/trend.(md|html); a run of the suite links ../../trend/trend.html."""
    reports = tmp_path / "reports"
    suite_dir = reports / "20261123T200000Z-suite-nightly"
    run_dir = make_run_dir(suite_dir, "db-restart",
                           result=result_doc("db-restart", "pass", availability=0.9995, lost=0))
    entry = {"scenario": "db-restart", "run_dir": run_dir.name, "expect": "pass",
             "verdict": "pass", "as_expected": True, "exit_code": 0}
    (suite_dir / "suite.json").write_text(json.dumps({"suite": "nightly", "runs": [entry]}))
    render_suite(suite_dir, [run_dir])
    assert _href(suite_dir / "summary.html") is None
    assert _md_link(suite_dir / "summary.md") is None
    assert main(["trend", str(reports), "--out", str(reports / "trend")]) in (0, 1)
    (suite_dir / "suite.json").unlink()  # a suite's first run is reported before it exists
    render_run(run_dir)
    assert _href(run_dir / "report.html") == "../../trend/trend.html"
    (suite_dir / "suite.json").write_text(json.dumps({"suite": "nightly", "runs": [entry]}))
    render_suite(suite_dir, [run_dir])
    assert _href(suite_dir / "summary.html") == "../trend/trend.html"
    assert _md_link(suite_dir / "summary.md") == "../trend/trend.md"
    assert _href(run_dir / "report.html") == "../../trend/trend.html"
    for page, link in ((suite_dir / "summary.html", "../trend/trend.html"),
                       (run_dir / "report.html", "../../trend/trend.html")):
        assert (page.parent / link).resolve().is_file()
