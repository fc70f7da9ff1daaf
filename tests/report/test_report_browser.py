"""report.html in a real headless Chromium, and a report of a result verify really wrote.

The browser test loads the report (copied with a probe script injected into the
copy, the report itself carries none), waits for load, and reads back: every
image's natural size, every error the page raised, and whether the page is
wider than the window (sideways scrolling). Chromium's own console log is
checked too. Chromium runs under the harness' Supervisor (its own process group,
stopped by pid). Skipped, with the reason, only when no chromium binary exists.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from report_rundirs import ADMIN_TOKEN, DSN_PASSWORD, LOST_KEYS, make_run_dir

from harness.provision.process import Supervisor
from harness.report import render_run
from harness.report.plots import PLOT_TITLES
from harness.verify import verify_run

CHROMIUM = next((p for p in (shutil.which(n) for n in ("chromium", "chromium-browser",
                                                         "google-chrome")) if p), None)
_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
          "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
          "--disable-extensions", "--enable-logging=stderr", "--v=0"]
_PROBE = """<script>
window.__errs = [];
window.addEventListener('error', e => window.__errs.push(
  String(e.message || (e.target && (e.target.src || '').slice(0, 60)) || 'error')), true);
const origError = console.error;
console.error = (...a) => { window.__errs.push(a.join(' ')); origError(...a); };
window.addEventListener('load', () => {
  const imgs = [...document.images].map(i => [i.dataset.plot, i.naturalWidth, i.naturalHeight]);
  const el = document.createElement('pre');
  el.id = '__probe';
  el.textContent = JSON.stringify({imgs, errs: window.__errs,
    scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth});
  document.body.appendChild(el);
});
</script>"""


def _chromium(sup: Supervisor, name: str, args: list[str], profile: Path) -> tuple[int, str]:
    """Run chromium to completion under the supervisor; (exit code, stdout+stderr)."""
    assert CHROMIUM is not None
    child = sup.spawn(name, [CHROMIUM, *_FLAGS, f"--user-data-dir={profile}", *args])
    code = child.wait(120)
    if code is None:
        code = sup.stop(child)
    return code, child.log_path.read_text(errors="replace")


@pytest.fixture(scope="module")
def judged_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A hand-made run judged by the real verify_run, then rendered."""
    run_dir = make_run_dir(tmp_path_factory.mktemp("judged"), with_result=False)
    verify_run(run_dir)
    render_run(run_dir)
    return run_dir


def test_report_of_a_real_verify_result(judged_run: Path) -> None:
    """The report shows what verify decided: its lost keys, its failed SLOs, its reasons."""
    result = json.loads((judged_run / "result.json").read_text())
    md = (judged_run / "report.md").read_text()
    assert result["writes"]["examples"]["lost"] == LOST_KEYS
    for key in LOST_KEYS:
        assert f"`{key}`" in md
    for slo in result["slos"]:
        row = f"| {slo['name']} | {slo['phase']} | {slo['threshold_text']} |"
        assert row in md, row
    assert "| lost_writes | run | == 0 | 2 | **FAIL** |" in md
    assert "Not as expected because:" in md
    page = (judged_run / "report.html").read_text()
    assert "Every recorded attempt of the first lost keys" in page
    for text in (md, page):
        assert DSN_PASSWORD not in text and ADMIN_TOKEN not in text


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary on PATH (apt-get install "
                                             "chromium)")
def test_report_opens_in_headless_chromium(judged_run: Path, tmp_path: Path,
                                           supervisor: Supervisor) -> None:
    """Every plot decodes (naturalWidth > 0), no console error, no sideways scrolling at
    1024 px, and a screenshot is taken."""
    probe = tmp_path / "probe.html"
    page = (judged_run / "report.html").read_text()
    probe.write_text(page.replace("<head>", "<head>" + _PROBE, 1))
    code, out = _chromium(supervisor, "chromium-dom",
                          ["--virtual-time-budget=10000", "--window-size=1024,900",
                           "--dump-dom", probe.as_uri()], tmp_path / "profile")
    found = re.search(r'<pre id="__probe">(.*?)</pre>', out, flags=re.S)
    assert found, f"no probe output; chromium exit {code}: {out[-2000:]}"
    state = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert sorted(stem for stem, _, _ in state["imgs"]) == sorted(PLOT_TITLES)
    assert all(w > 0 and h > 0 for _, w, h in state["imgs"]), state["imgs"]
    assert state["errs"] == []
    assert state["scroll"] <= state["client"], state
    console = [ln for ln in out.splitlines() if "CONSOLE" in ln or "Uncaught" in ln]
    assert console == []
    shot = tmp_path / "report.png"
    code, out = _chromium(supervisor, "chromium-shot",
                          ["--window-size=1024,2000", f"--screenshot={shot}",
                           (judged_run / "report.html").as_uri()], tmp_path / "profile2")
    assert shot.is_file() and shot.read_bytes()[:4] == b"\x89PNG", out[-2000:]
