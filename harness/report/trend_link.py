"""Where the trend page of a run or a suite is, when there is one.

``chaosharness trend REPORTS_DIR`` writes ``trend.html`` and ``trend.md`` into REPORTS_DIR
(or ``--out DIR``; the nightly CI workflow, ``ci/nightly-chaos.yml``, passes
``--out REPORTS_DIR/trend``). A trend page *exists* for a run or suite directory when, at
the time its report is rendered, ``trend.html`` or ``trend/trend.html`` is in the reports
directory it sits in: the directory's parent, or for a run of a suite, the suite's parent.
A run's report and a suite's summary then link it by a relative path, so a reports
directory copied whole (a CI artifact) keeps its links; ``chaosharness report RUN_DIR``
re-renders a report made before the first trend with the link.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["TREND_PAGES", "find_trend_page", "trend_href"]

#: Where a reports directory's trend page is looked for, in this order.
TREND_PAGES = ("trend.html", "trend/trend.html")


def _reports_dirs(path: Path) -> list[Path]:
    """The reports directory ``path`` sits in; for a run of a suite, also the suite's. A
    suite directory is told as ``chaosharness trend`` tells it (harness.report.trend_data):
    its suite.json, or its name, since a suite's first run is reported before suite.json
    is written."""
    parent = path.parent
    dirs = [parent]
    if (parent / "suite.json").is_file() or "-suite-" in parent.name:
        dirs.append(parent.parent)
    return dirs


def find_trend_page(path: Path) -> Path | None:
    """The trend page for the run or suite directory ``path``, or None."""
    path = Path(path).resolve()
    for reports in _reports_dirs(path):
        for name in TREND_PAGES:
            page = reports / name
            if page.is_file():
                return page
    return None


def trend_href(path: Path, markdown: bool = False) -> str | None:
    """The link from a page in ``path`` to its trend page (``trend.md`` beside it for a
    markdown page, when there is one), or None when there is no trend page."""
    page = find_trend_page(path)
    if page is None:
        return None
    if markdown and page.with_suffix(".md").is_file():
        page = page.with_suffix(".md")
    return os.path.relpath(page, Path(path).resolve()).replace(os.sep, "/")
