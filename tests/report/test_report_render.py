"""render_run on hand-made run directories with known content (report_rundirs.py).

Each test renders a directory whose every number is known and checks that the
report says exactly that: the verdict table first, the faults with recovery
times, the write accounting with its first offending keys, the memory verdict
with its site, every plot embedded, and no secret anywhere.
"""

from __future__ import annotations

import base64
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from report_rundirs import (
    ADMIN_TOKEN,
    DSN_PASSWORD,
    DUPLICATED_KEYS,
    LEAK_SITE,
    LOST_KEYS,
    make_run_dir,
    result_doc,
)

from harness.errors import ReportError
from harness.report import render_run
from harness.report.plots import PLOT_TITLES

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One rendered run directory shared by the read-only checks below."""
    run_dir = make_run_dir(tmp_path_factory.mktemp("runs"))
    render_run(run_dir)
    return run_dir


def test_render_run_writes_every_artefact(rendered: Path) -> None:
    """Rendering writes report.md, report.html, junit.xml and one PNG per plot."""
    for name in ("report.md", "report.html", "junit.xml"):
        assert (rendered / name).stat().st_size > 0, name
    pngs = sorted(p.stem for p in (rendered / "plots").glob("*.png"))
    assert pngs == sorted(PLOT_TITLES)
    for png in (rendered / "plots").glob("*.png"):
        assert png.read_bytes()[:8] == PNG_MAGIC


def test_markdown_verdict_table_comes_first(rendered: Path) -> None:
    """The first section of report.md is the verdict table with every SLO's row."""
    md = (rendered / "report.md").read_text()
    sections = re.findall(r"^## (.+)$", md, flags=re.M)
    assert sections[:5] == ["Verdicts", "Faults", "Write accounting", "Memory", "Replay"]
    assert md.splitlines()[0].startswith("# db-restart: FAIL")
    assert "| SLO | phase | threshold | value | verdict |" in md
    assert "| availability | steady | >= 99.9% | 95% | **FAIL** |" in md
    assert "| p99_latency_ms | steady | < 100 | 12.5 ms | pass |" in md
    assert "| lost_writes | run | == 0 | 2 | **FAIL** |" in md
    assert "| memory_growth_mb_per_hour | run | < 50 | not measured | not measured |" in md


def test_markdown_faults_writes_memory_replay(rendered: Path) -> None:
    """Faults carry their recovery times, writes the offending keys, memory its site."""
    md = (rendered / "report.md").read_text()
    assert "| #0 | postgres.restart | 20 | 21.2 | 1.40 s | 0.300 s | yes |" in md
    assert "| #1 | network.latency | 35 | 45 | 0.200 s | not measured | yes |" in md
    assert "| lost | **2** |" in md
    for key in LOST_KEYS + DUPLICATED_KEYS:
        assert f"`{key}`" in md
    assert f"`{LEAK_SITE}`" in md
    assert "RSS slope 30 MB/h (95% CI 12 .. 48)" in md
    assert f"chaosharness replay {rendered}" in md


def test_html_embeds_every_plot_and_tables(rendered: Path) -> None:
    """report.html inlines each plot as a decodable PNG and shows every section."""
    page = (rendered / "report.html").read_text()
    images = re.findall(r'<img alt="[^"]*" data-plot="([a-z_]+)" '
                        r'src="data:image/png;base64,([A-Za-z0-9+/=]+)">', page)
    assert sorted(stem for stem, _ in images) == sorted(PLOT_TITLES)
    for _, data in images:
        assert base64.b64decode(data)[:8] == PNG_MAGIC
    for title in PLOT_TITLES.values():
        assert f"<h2>{title}</h2>" in page
    assert page.index('id="verdicts"') < page.index('id="faults"') < page.index('id="writes"')
    assert "<td>steady</td><td>steady</td><td>5</td><td>20</td><td></td>" in page
    assert "<td>&gt;= 99.9%</td><td>95%</td><td>fail</td>" in page
    assert 'class="fail"' in page
    for key in LOST_KEYS + DUPLICATED_KEYS:
        assert f"<code>{key}</code>" in page
    assert f"<code>{LEAK_SITE}</code>" in page and "reference_impl/app/main.py:10" in page


def test_html_labels_fault_windows_under_each_time_plot(rendered: Path) -> None:
    """Every time plot names the shaded windows: both faults with their spans."""
    page = (rendered / "report.html").read_text()
    caption = ("Shaded fault windows: #0 postgres.restart (20 to 21.2 s); "
               "#1 network.latency (35 to 45 s)")
    assert page.count(caption) == 5


def test_html_is_self_contained(rendered: Path) -> None:
    """No external fetch: no src/href to a URL, no script, no stylesheet link."""
    page = (rendered / "report.html").read_text()
    assert not re.search(r'(src|href)="(https?:)?//', page)
    assert "<script" not in page and "<link" not in page


def test_no_secret_in_any_artefact(rendered: Path) -> None:
    """The DSN password and the admin token planted in run.json, result.json evidence,
    the timeline and samples never appear in any rendered file."""
    for path in [rendered / "report.md", rendered / "report.html", rendered / "junit.xml"]:
        text = path.read_text()
        assert DSN_PASSWORD not in text, path
        assert ADMIN_TOKEN not in text, path
    assert "postgresql://app:***@" in (rendered / "junit.xml").read_text()


def test_junit_counts_add_up(rendered: Path) -> None:
    """One testcase per SLO named metric@phase; failures and errors match the verdicts."""
    root = ET.parse(rendered / "junit.xml").getroot()
    assert root.tag == "testsuites"
    (suite,) = root.findall("testsuite")
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == [
        "availability@steady", "p99_latency_ms@steady", "recovery_seconds@recovery",
        "lost_writes@run", "memory_growth_mb_per_hour@run"]
    assert {c.get("classname") for c in cases} == {"db-restart"}
    failures = [c for c in cases if c.find("failure") is not None]
    errors = [c for c in cases if c.find("error") is not None]
    assert [c.get("name") for c in failures] == ["availability@steady", "lost_writes@run"]
    assert failures[0].find("failure").get("message") == "95% vs >= 99.9% (fail)"
    assert [c.get("name") for c in errors] == ["memory_growth_mb_per_hour@run"]
    for el in (root, suite):
        assert (el.get("tests"), el.get("failures"), el.get("errors"), el.get("skipped")) == (
            "5", "2", "1", "0")


def test_negative_control_expected_failure_is_a_pass(tmp_path: Path) -> None:
    """A negative control's SLO that failed as declared passes in junit and reads so in the
    report; one that passed although declared to fail is a failure."""
    doc = result_doc("planted-leak", "fail", expect="fail",
                     expect_fail=["lost_writes@run", "p99_latency_ms@steady"],
                     availability=0.9995)
    run_dir = make_run_dir(tmp_path, "planted-leak", result=doc)
    render_run(run_dir)
    cases = {c.get("name"): c for c in ET.parse(run_dir / "junit.xml").iter("testcase")}
    assert cases["lost_writes@run"].find("failure") is None
    assert cases["availability@steady"].find("failure") is None
    failure = cases["p99_latency_ms@steady"].find("failure")
    assert failure is not None and "expected to fail" in failure.get("message", "")
    md = (run_dir / "report.md").read_text()
    assert "| lost_writes | run | == 0 | 2 | fail (expected: negative control) |" in md


def test_run_without_result_still_renders(tmp_path: Path) -> None:
    """An unjudged run renders its plots, says result.json is missing, and junit errors."""
    run_dir = make_run_dir(tmp_path, with_result=False)
    paths = render_run(run_dir)
    assert len([p for p in paths if p.suffix == ".png"]) == 5
    md = (run_dir / "report.md").read_text()
    assert "UNKNOWN (no result.json)" in md and "chaosharness verify" in md
    root = ET.parse(run_dir / "junit.xml").getroot()
    assert (root.get("tests"), root.get("errors"), root.get("failures")) == ("1", "1", "0")


def test_missing_raw_files_say_why_no_plot(tmp_path: Path) -> None:
    """Without requests.csv and samples.jsonl the HTML says why each plot is absent."""
    run_dir = make_run_dir(tmp_path)
    (run_dir / "requests.csv").unlink()
    (run_dir / "samples.jsonl").unlink()
    (run_dir / "memory" / "diff-0001.json").unlink()
    paths = render_run(run_dir)
    assert not [p for p in paths if p.suffix == ".png"]
    page = (run_dir / "report.html").read_text()
    assert page.count("No plot: ") == 5 and "<img" not in page
    assert "requests.csv, samples.jsonl" in (run_dir / "report.md").read_text()


def test_torn_last_lines_are_tolerated(tmp_path: Path) -> None:
    """A killed run's half-written last line in each stream does not stop rendering."""
    run_dir = make_run_dir(tmp_path)
    with (run_dir / "requests.csv").open("a") as fh:
        fh.write("61.5,post_mess")
    with (run_dir / "samples.jsonl").open("a") as fh:
        fh.write('{"t_s": 62.0, "app_pr')
    with (run_dir / "timeline.jsonl").open("a") as fh:
        fh.write('{"event": "appl')
    assert (run_dir / "report.html") in render_run(run_dir)


def test_malformed_result_names_the_file(tmp_path: Path) -> None:
    """A result.json that is not JSON is a ReportError naming the file."""
    run_dir = make_run_dir(tmp_path)
    (run_dir / "result.json").write_text("{not json")
    with pytest.raises(ReportError, match=r"result\.json: not valid JSON"):
        render_run(run_dir)


def test_not_a_run_directory(tmp_path: Path) -> None:
    """A path that does not exist is a ReportError that names it."""
    with pytest.raises(ReportError, match="nope: not a run directory"):
        render_run(tmp_path / "nope")
