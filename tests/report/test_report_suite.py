"""Suite summary, compare and the seed-metrics table from hand-made run directories."""

from __future__ import annotations

import base64
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from report_rundirs import ADMIN_TOKEN, DSN_PASSWORD, make_run_dir, result_doc

from harness.report import compare_runs, render_run, render_seed_metrics, render_suite
from harness.report.seed_metrics import SEED_ROWS


def _suite(suite_dir: Path, runs: list[dict[str, Any]], name: str = "smoke") -> None:
    suite_dir.mkdir(parents=True, exist_ok=True)
    (suite_dir / "suite.json").write_text(json.dumps({"suite": name, "runs": runs}))


def _entry(run_dir: Path | None, scenario: str, expect: str = "pass") -> dict[str, Any]:
    return {"scenario": scenario, "run_dir": str(run_dir) if run_dir else None,
            "expect": expect, "verdict": None, "as_expected": None, "exit_code": None}


def test_suite_summary_and_combined_junit(tmp_path: Path) -> None:
    """One row per scenario with expectation, verdict, key figures and a relative link to
    its report; a scenario that did not run says so; junit totals are the sums."""
    suite_dir = tmp_path / "suite"
    good = make_run_dir(suite_dir, "db-restart",
                        result=result_doc("db-restart", "pass", availability=0.9995, lost=0))
    control = make_run_dir(suite_dir, "planted-leak", result=result_doc(
        "planted-leak", "fail", expect="fail", expect_fail=["lost_writes@run"]))
    broken = make_run_dir(suite_dir, "network-latency")  # verdict fail, expected pass
    for run_dir in (good, control, broken):
        render_run(run_dir)
    failed = {**_entry(suite_dir, "db-freeze"),
              "error": "scenarios/db-freeze.toml: duration: bad"}
    skipped = {**_entry(None, "db-crash"), "gating": False}
    _suite(suite_dir, [{**_entry(good, "db-restart"), "profile": "resilient"},
                       _entry(control, "planted-leak", "fail"), failed, skipped,
                       _entry(broken, "network-latency")])
    paths = render_suite(suite_dir, [good, control])
    assert [p.name for p in paths] == ["summary.md", "summary.html", "junit.xml"]
    md = (suite_dir / "summary.md").read_text()
    assert md.startswith("# Suite smoke: 2/5 as expected")
    rel = f"{good.name}/report.html"
    assert re.search(rf"\| db-restart \| resilient \| pass \| pass \| yes \| 99\.950% \|"
                     rf".*\[report\]\({rel}\)", md)
    assert "| planted-leak |  | fail | fail | yes |" in md
    assert "| db-freeze |  | pass | unknown | not judged |" in md
    assert "| could not run: scenarios/db-freeze.toml: duration: bad |" in md
    assert "| db-crash |  | pass (not gating) | unknown | not judged |" in md
    assert "no run directory: the scenario did not run" in md
    # the failing row stresses its "as expected" cell; its link stays a working link
    assert "| network-latency |  | pass | fail | **NO** |" in md
    assert f"[report]({broken.name}/report.html) |" in md
    page = (suite_dir / "summary.html").read_text()
    assert f'<a href="{rel}">report</a>' in page
    root = ET.parse(suite_dir / "junit.xml").getroot()
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == ["db-restart", "planted-leak", "db-freeze",
                                               "db-crash", "network-latency"]
    for key in ("tests", "failures", "errors", "skipped"):
        assert int(root.get(key, "-1")) == sum(int(s.get(key, "0")) for s in suites)
    for suite in suites:
        cases = suite.findall("testcase")
        assert int(suite.get("tests", "-1")) == len(cases)
        assert int(suite.get("failures", "-1")) == sum(c.find("failure") is not None
                                                       for c in cases)
        assert int(suite.get("errors", "-1")) == sum(c.find("error") is not None for c in cases)
    assert suites[2].find("testcase/error").get("message") == (
        "could not run: scenarios/db-freeze.toml: duration: bad")
    for path in paths:
        assert DSN_PASSWORD not in path.read_text() and ADMIN_TOKEN not in path.read_text()


def test_compare_renders_both_runs(tmp_path: Path) -> None:
    """Compare shows both verdict columns, deltas per figure, and one overlaid plot."""
    naive = make_run_dir(tmp_path, "db-restart", profile="naive", result=result_doc(
        "db-restart", "fail", availability=0.90, lost=3, recovery_s=12.0))
    resilient = make_run_dir(tmp_path, "db-restart", profile="resilient", result=result_doc(
        "db-restart", "pass", availability=0.9995, lost=0))
    out = tmp_path / "cmp"
    paths = compare_runs(naive, resilient, out)
    assert [p.name for p in paths] == ["compare.md", "compare.html", "compare.png"]
    md = (out / "compare.md").read_text()
    assert "A: db-restart (naive)" in md and "B: db-restart (resilient)" in md
    assert "| lost_writes@run | == 0 | 3 | fail | 0 | pass |" in md
    assert "| availability@steady | >= 99.9% | 90% | fail | 99.950% | pass |" in md
    assert "| recovery_seconds@run | 12 s | 1.40 s | -10.6 (-88.3%) |" in md
    page = (out / "compare.html").read_text()
    (data,) = re.findall(r'data-plot="compare" src="data:image/png;base64,([^"]+)"', page)
    assert base64.b64decode(data)[:4] == b"\x89PNG"
    for text in (md, page):
        assert DSN_PASSWORD not in text and ADMIN_TOKEN not in text


def _seed_run(root: Path, scenario: str, profile: str, **kw: Any) -> Path:
    verdict = kw.pop("verdict", "pass")
    doc = result_doc(scenario, verdict, **kw)
    doc["profile"] = profile
    return make_run_dir(root, scenario, profile=profile, result=doc)


def test_seed_metrics_before_after_table(tmp_path: Path) -> None:
    """The seed-metrics suite's summary also renders the before/after table: every seed row
    with its target; values are the worst over the profile's runs (preferring the row's own
    scenario, profile prefix aside) with their scenario; the naive column fails lost writes
    and recovery; a figure no run produced reads 'not measured' and is not a pass."""
    suite_dir = tmp_path / "seed"
    runs = [
        _seed_run(suite_dir, "naive-db-restart", "naive", verdict="fail", availability=0.9,
                  lost=3, recovery_s=12.0),
        _seed_run(suite_dir, "naive-soak", "naive", availability=0.999, lost=0),
        _seed_run(suite_dir, "db-restart", "resilient", availability=0.9995, lost=0),
        _seed_run(suite_dir, "load-10x", "resilient", availability=0.9995, lost=0,
                  recovery_s=2.5),
    ]
    docs = [json.loads((r / "result.json").read_text()) for r in runs]
    del docs[0]["metrics"]["run"]["uptime"]
    del docs[1]["metrics"]["run"]["uptime"]
    docs[1]["metrics"]["run"]["memory_warnings_per_hour"] = 9.0
    docs[0]["metrics"]["run"]["memory_warnings_per_hour"] = 1.0
    docs[1]["faults"][0].update(recovered=False, recovery_s=None)  # naive-soak never recovered
    # steady uptime as [ready, answered] samples: 99.67 % misses 99.9 % (fail); 600 of 600
    # meets it but cannot show it; 3,000 of 3,000 can (its bound is 99.91 %)
    docs[1]["rate_counts"] = {"steady": {"uptime": [2990, 3000]}}
    docs[2]["rate_counts"] = {"steady": {"uptime": [3000, 3000]}}
    docs[3]["rate_counts"] = {"steady": {"uptime": [600, 600]}}
    # failure rate: naive-db-restart's 6/5000 misses 0.1%; naive-soak's
    # 0/500 only lacks trials, though its bound (0.54%) is worse: the failing run is shown
    docs[0]["rate_counts"] = {"steady": {"error_rate": [6, 5000]}}
    docs[1]["rate_counts"]["steady"]["error_rate"] = [0, 500]
    for run, doc in zip(runs, docs, strict=True):
        (run / "result.json").write_text(json.dumps(doc))
    _suite(suite_dir, [_entry(r, d["scenario"]) for r, d in zip(runs, docs, strict=True)],
           name="seed-metrics")
    paths = render_suite(suite_dir, runs)
    assert [p.name for p in paths][-2:] == ["seed-metrics.md", "seed-metrics.html"]
    md = (suite_dir / "seed-metrics.md").read_text()
    assert "| seed metric | target | naive | naive verdict | resilient | resilient verdict |" in md
    for row in SEED_ROWS:
        assert f"| {row.label} | {row.target} |" in md, row.label
    assert ("| Lost acknowledged writes | 0 | 3 (naive-db-restart) | fail | 0 (db-restart) | "
            "pass |") in md
    assert ("| Recovery after a database outage | < 1 min (ours: < 5 s) | did not recover "
            "(naive-soak) | fail | 2.50 s (load-10x) | pass |") in md
    assert "| Memory warnings per hour | < 5 | 9 /h (naive-soak) | fail |" in md
    assert ("| Uptime (steady) | >= 99.9% | 99.7% (2990/3000 samples, 95% lower bound 99.44%) "
            "(naive-soak) | fail | 100% (600/600 samples, 95% lower bound 99.55%) (load-10x) | "
            "not enough trials |") in md
    assert ("| Load 10x expected traffic held | every SLO passes | not measured | not measured |"
            " held (load-10x) | pass |") in md
    assert ("| Startup success rate | >= 99% | 100% (2/2 runs, 95% lower bound 42.5%) | "
            "not enough trials | 100% (2/2 runs, 95% lower bound 42.5%) | not enough trials |"
            ) in md
    # the resilient runs' failure rates carry no trials (an older result.json): shown, never
    # passed
    assert ("| Query failure rate (steady) | < 0.1% | 0.12% (6/5000 requests, 95% upper bound "
            "0.23%) (naive-db-restart) | fail | 0.050000% (trials not recorded: no bound) "
            "(db-restart) | unknown |") in md
    assert render_seed_metrics(suite_dir) == suite_dir / "seed-metrics.md"
