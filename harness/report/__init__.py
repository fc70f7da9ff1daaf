"""Report: turn a judged run directory into what people and CI systems read.

Reads only the run directory's files (docs/run-directory.md) and writes beside
them: ``report.md`` (for a PR comment), ``report.html`` (self-contained, plots
embedded), ``plots/*.png`` and ``junit.xml``. ``requests.csv`` and
``samples.jsonl`` are streamed into per-second series, so a run of millions of
requests renders in bounded memory. Nothing rendered carries a DSN password or
the admin token (:mod:`harness.report.scrub`).

Entry points::

    render_run(run_dir)                 -> [report.md, report.html, junit.xml, plots...]
    render_suite(suite_dir, runs)       -> [summary.md, summary.html, junit.xml]
    compare_runs(run_a, run_b, out_dir) -> [compare.md, compare.html, plots...]
    render_seed_metrics(suite_dir)      -> seed-metrics.md (+ .html beside it)

``chaosharness trend`` (many nights of a reports directory) lives in
:mod:`harness.report.trend` (collect + judge), ``trend_data``, ``trend_rules`` and
``trend_render``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # real signatures for type checkers; imported lazily at run time
    from harness.report.compare import compare_runs
    from harness.report.render import load_series, render_run
    from harness.report.seed_metrics import render_seed_metrics
    from harness.report.suite_summary import render_suite

__all__ = [
    "compare_runs",
    "load_series",
    "render_run",
    "render_seed_metrics",
    "render_suite",
]

# Entry points are imported on first use (PEP 562), so importing a light submodule
# (the pytest plugin uses .tables and .rundata) does not pull in matplotlib.
_WHERE = {
    "compare_runs": "harness.report.compare",
    "load_series": "harness.report.render",
    "render_run": "harness.report.render",
    "render_seed_metrics": "harness.report.seed_metrics",
    "render_suite": "harness.report.suite_summary",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'harness.report' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
