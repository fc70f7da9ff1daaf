"""The pytest plugin, driven through pytest itself (pytester, in a subprocess).

Two tiers. The first replaces ``harness.run.run_scenario`` inside the inner pytest
with a stand-in that writes a hand-made run directory (report_rundirs.py) and
returns a ``RunOutcome``: it checks collection from ``--chaos-scenario``, the
marker and fixture, and that a failure's message is the failed verdicts, the
report path and the replay command. The second runs a short real scenario
(Postgres, proxy, app, Locust) on both profiles.
"""

from __future__ import annotations

import importlib.metadata
import json
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent

_FAKE_CONFTEST = f"""
import sys
import tempfile
import types
from dataclasses import dataclass
from pathlib import Path
sys.path.insert(0, {str(HERE)!r})
import harness
import report_rundirs
from harness.errors import ScenarioError

@dataclass
class RunOutcome:  # the lead's harness.run.RunOutcome signature
    run_dir: Path
    exit_code: int
    result: dict | None

def fake_run_scenario(path, overrides=None, *, reports_dir=Path("reports"), replay_of=None,
                      quiet=False):
    overrides = dict(overrides or {{}})
    if Path(path).stem == "broken":
        raise ScenarioError(str(path), "fault[0].at", "must be <= duration (30s), got 45s")
    naive = Path(path).stem.startswith("naive")
    profile = str(overrides.get("profile", "naive" if naive else "resilient"))
    ok = profile != "naive"
    name = Path(path).stem
    doc = report_rundirs.result_doc(name, "pass" if ok else "fail",
                                    availability=0.9995 if ok else 0.9, lost=0 if ok else 2)
    doc["slos"] = [s for s in doc["slos"] if s["verdict"] != "unknown"]
    doc["as_expected"] = ok
    Path(reports_dir).mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(dir=reports_dir))
    run_dir = report_rundirs.make_run_dir(root, name, profile=profile, result=doc)
    (run_dir / "report.html").write_text("<!DOCTYPE html><title>stand-in</title>")
    (run_dir / "overrides.txt").write_text(repr(sorted(overrides.items())))
    return RunOutcome(run_dir, 0 if ok else 1, doc)

# Stand in for the conductor: the plugin imports harness.run only when a test runs.
fake = types.ModuleType("harness.run")
fake.RunOutcome = RunOutcome
fake.run_scenario = fake_run_scenario
sys.modules["harness.run"] = fake
harness.run = fake
"""


def _plugin_args() -> list[str]:
    """Load the plugin explicitly unless its entry point is installed already."""
    names = {e.name for e in importlib.metadata.entry_points(group="pytest11")}
    return [] if "chaosharness" in names else ["-p", "harness.pytest_plugin"]


@pytest.fixture
def chaos_dir(pytester: pytest.Pytester) -> pytest.Pytester:
    """An inner test directory with the stand-in conductor and one scenario file."""
    pytester.makeconftest(_FAKE_CONFTEST)
    pytester.makefile(".toml", **{"db-restart": 'name = "db-restart"\n'})
    pytester.makepyfile(test_unrelated="def test_unrelated():\n    assert False\n")
    return pytester


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(*_plugin_args(), "-p", "no:cacheprovider",
                                         "--chaos-reports", str(pytester.path / "reports"),
                                         *args, timeout=120)


def test_chaos_scenario_option(chaos_dir: pytest.Pytester) -> None:
    """--chaos-scenario makes each file a test and the only tests; command-line overrides
    reach run_scenario; the resilient run passes; the naive one fails with a message that
    lists each failed SLO with value vs threshold, the report's path and the replay command;
    an invalid scenario fails with the ScenarioError's file and key, no traceback."""
    chaos_dir.makefile(".toml", **{"naive-db-restart": 'name = "naive-db-restart"\n',
                                   "broken": 'name = "broken"\n'})
    result = _run(chaos_dir, "--chaos-scenario", "db-restart.toml", "--chaos-scenario",
                  "naive-db-restart.toml", "--chaos-scenario", "broken.toml",
                  "--chaos-duration", "9s")
    result.assert_outcomes(passed=1, failed=2)
    written = sorted(p.read_text() for p in (chaos_dir.path / "reports").glob("*/*/overrides.txt"))
    assert written == ["[('duration', '9s')]"] * 2
    out = result.stdout.str()
    assert "chaos scenario naive-db-restart: verdict fail, expected pass" in out
    assert "availability@steady: 90% vs >= 99.9% (fail)" in out
    assert "lost_writes@run: 2 vs == 0 (fail)" in out
    assert "report: " in out and "/report.html" in out
    assert "replay: chaosharness replay " in out
    assert "broken.toml could not run: " in out
    assert "broken.toml: fault[0].at: must be <= duration (30s), got 45s" in out
    assert "Traceback" not in out and "test_unrelated" not in out


def test_marker_and_fixture(chaos_dir: pytest.Pytester) -> None:
    """chaos_run runs the marked scenario; check=True fails a not-as-expected run after the
    body; check=False leaves the judgement to the test."""
    chaos_dir.makepyfile(test_chaos="""
import pytest

@pytest.mark.chaos_scenario("db-restart.toml", profile="naive")
def test_checked(chaos_run):
    assert chaos_run.result is not None

@pytest.mark.chaos_scenario("db-restart.toml", profile="naive", check=False)
def test_unchecked(chaos_run):
    assert any(s.startswith("lost_writes@run") for s in chaos_run.failed_slos)
    assert chaos_run.report.is_file()

@pytest.mark.chaos_scenario("db-restart.toml")
def test_resilient(chaos_run):
    assert chaos_run.as_expected
""")
    result = _run(chaos_dir, "test_chaos.py")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*ChaosFailure: chaos scenario db-restart: verdict fail*"])
    assert "FAILED test_chaos.py::test_checked" in result.stdout.str()


def _real_run_ready() -> str | None:
    """Why the real tier cannot run here, or None when it can."""
    try:
        import harness.run  # noqa: F401
    except ImportError as exc:
        return f"the conductor (harness.run) does not import yet: {exc}"
    if not (REPO / "scenarios" / "db-restart.toml").is_file():
        return "scenarios/db-restart.toml is missing"
    return None


def _inner_run(pytester: pytest.Pytester, profile: str) -> tuple[pytest.RunResult, dict | None]:
    """Run scenarios/db-restart.toml as a test on ``profile``; the outcome and its result."""
    reports = pytester.path / f"reports-{profile}"
    result = pytester.runpytest_subprocess(
        *_plugin_args(), "-p", "no:cacheprovider", "--rootdir", str(REPO),
        "--chaos-scenario", str(REPO / "scenarios" / "db-restart.toml"),
        "--chaos-duration", "25s", "--chaos-users", "5", "--chaos-profile", profile,
        "--chaos-reports", str(reports), timeout=280)
    found = list(reports.glob("*/result.json"))
    return result, (json.loads(found[0].read_text()) if found else None)


def _assert_faithful(run: pytest.RunResult, result: dict | None) -> None:
    """The test's outcome is the run's own judgement, and a failure names every failed SLO
    (or, for a run that could not be carried out, says so with the conductor's reason)."""
    if result is None:
        run.assert_outcomes(failed=1)
        assert "could not run (exit 2): " in run.stdout.str()
        return
    if result["as_expected"]:
        run.assert_outcomes(passed=1)
        return
    run.assert_outcomes(failed=1)
    out = run.stdout.str()
    assert f"verdict {result['verdict']}, expected {result['expect']}" in out
    for slo in result["slos"]:
        if slo["verdict"] == "fail":
            assert f"{slo['name']}@{slo['phase']}: " in out, slo
    assert "report: " in out and "replay: chaosharness replay " in out


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.skipif(_real_run_ready() is not None, reason=str(_real_run_ready()))
def test_real_scenario_as_a_test(pytester: pytest.Pytester) -> None:
    """A short real db-restart (Postgres, proxy, app, Locust) run as a test on both profiles:
    each test's outcome is what the run itself judged (pass only when as expected); the
    resilient run must pass (at 25 s Postgres is back at ~19 s, so the 5 s recovery window
    fits), and the naive profile fails with its failed verdicts (data loss or availability)
    in the message."""
    good, good_result = _inner_run(pytester, "resilient")
    assert good_result is not None, good.stdout.str()[-3000:]
    assert good_result["as_expected"], good_result["expectation_reasons"]
    _assert_faithful(good, good_result)
    bad, bad_result = _inner_run(pytester, "naive")
    _assert_faithful(bad, bad_result)
    if bad_result is None:  # the plugin said so faithfully; the verdict part cannot be checked
        pytest.xfail("2026-11-23: the naive app's startup under the conductor is flaky on this "
                     "shared machine (asyncpg connect TimeoutError, 'not ready within 30.0s')")
    assert bad_result["as_expected"] is False
