"""pytest plugin: a chaos scenario becomes a test.

Registered through the ``pytest11`` entry point ``chaosharness``. Three ways in::

    pytest --chaos-scenario scenarios/db-restart.toml [--chaos-duration 30s]

    @pytest.mark.chaos_scenario("scenarios/db-restart.toml", duration="30s")
    def test_db_restart(chaos_run):          # fails unless the verdicts are as expected
        assert chaos_run.result["writes"]["lost"] == 0

    @pytest.mark.chaos_scenario("scenarios/naive-db-restart.toml", check=False)
    def test_naive_is_caught(chaos_run):     # check=False: the test judges the outcome
        assert "detect_seconds@fault" in chaos_run.broken_slos

``failed_slos`` are the SLOs that did not go as the scenario expects (a negative control's
planned failures are fine); ``broken_slos`` are the ids of every SLO whose verdict is
``fail``, whatever was expected. docs/ci.md shows all three ways, each run by a test.

Each run goes through :func:`harness.run.run_scenario` (provision, load, faults,
verify, report) and a failing test's message is the failed verdicts, the
report's path and the replay command, so a PR's CI shows why without opening
anything. The run itself happens in child processes; this process never imports
Locust.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from harness import exitcodes
from harness.errors import HarnessError
from harness.records import ResultRecord
from harness.report.rundata import replay_command
from harness.report.tables import expected_to_fail, fmt_value, slo_outcome, threshold_text

__all__ = ["ChaosFailure", "ChaosRun", "failure_message"]

_OVERRIDE_OPTIONS = ("duration", "profile", "seed", "users", "workers")
_CHAOS_KEY = pytest.StashKey["ChaosRun"]()


class ChaosFailure(AssertionError):
    """A scenario's verdicts were not what it expects (or it could not run)."""


@dataclass
class ChaosRun:
    """One scenario's outcome, as the ``chaos_run`` fixture hands it to a test."""

    scenario: Path
    run_dir: Path
    exit_code: int
    result: dict[str, Any] | None
    check: bool = True
    overrides: dict[str, object] = field(default_factory=dict)
    error: str | None = None  # why the run could not be carried out (exit code 2)

    @property
    def as_expected(self) -> bool:
        """Exit code 0: every verdict is what the scenario expects."""
        return self.exit_code == exitcodes.OK

    @property
    def report(self) -> Path:
        """The run's HTML report."""
        return self.run_dir / "report.html"

    @property
    def broken_slos(self) -> list[str]:
        """Ids (``"metric@phase"``) of every SLO whose verdict is ``fail``, expected or not:
        what a test of a negative control with ``check=False`` asserts on."""
        slos = (self.result or {}).get("slos") or []
        return [str(s.get("id")) for s in slos if isinstance(s, dict) and s.get("verdict") == "fail"]

    @property
    def failed_slos(self) -> list[str]:
        """``"metric@phase: value vs threshold"`` for every SLO that failed or went unmeasured
        (judged against the scenario's expectation: a negative control's failure is fine)."""
        if self.result is None:
            return []
        result = ResultRecord.from_json(self.result)
        expect_fail = expected_to_fail(result)
        out = []
        for slo in result.slos:
            status, words = slo_outcome(slo, expect_fail)
            if status != "pass":
                name = str(slo.get("name"))
                out.append(f"{name}@{slo.get('phase', 'run')}: "
                           f"{fmt_value(name, slo.get('value'))} vs {threshold_text(slo)} "
                           f"({words})")
        return out


def failure_message(run: ChaosRun) -> str:
    """Why a scenario test failed: the failed verdicts, the report and the replay command."""
    result = run.result or {}
    if run.result is None or run.exit_code == exitcodes.COULD_NOT_RUN:
        error = run.error or result.get("error") or f"see the logs in {run.run_dir / 'logs'}"
        head = f"chaos scenario {run.scenario} could not run (exit {run.exit_code}): {error}"
    else:
        head = (f"chaos scenario {result.get('scenario', run.scenario)}: verdict "
                f"{result.get('verdict', 'unknown')}, expected {result.get('expect', 'pass')}")
    lines = [head]
    lines += [f"  {line}" for line in run.failed_slos]
    lines += [f"  {reason}" for reason in result.get("expectation_reasons") or []
              if not any(reason.startswith(s.split(":")[0]) for s in run.failed_slos)]
    lines += [f"report: {run.report}", f"replay: {replay_command(run.run_dir)}"]
    return "\n".join(lines)


def _overrides(config: pytest.Config, extra: Mapping[str, object]) -> dict[str, object]:
    out: dict[str, object] = {}
    for name in _OVERRIDE_OPTIONS:
        value = config.getoption(f"chaos_{name}")
        if value is not None:
            out[name] = value
    out.update(extra)
    return out


def execute(config: pytest.Config, scenario: Path, overrides: Mapping[str, object],
            check: bool = True) -> ChaosRun:
    """Run one scenario through :func:`harness.run.run_scenario` and wrap its outcome."""
    from harness import run as run_module  # the conductor: imported only when a test runs

    kwargs: dict[str, Any] = {"quiet": True}
    reports = config.getoption("chaos_reports")
    if reports:
        kwargs["reports_dir"] = Path(reports)
    merged = _overrides(config, overrides)
    try:
        outcome = run_module.run_scenario(scenario, merged, **kwargs)
    except HarnessError as exc:  # e.g. a ScenarioError: the file or an override is invalid
        raise ChaosFailure(f"chaos scenario {scenario} could not run: {exc}") from exc
    error = getattr(outcome, "error", None)
    return ChaosRun(scenario, Path(outcome.run_dir), int(outcome.exit_code), outcome.result,
                    check, merged, str(error) if error else None)


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--chaos-scenario PATH`` (repeatable) and overrides applied to every scenario."""
    group = parser.getgroup("chaosharness", "chaos scenarios as tests")
    group.addoption("--chaos-scenario", action="append", default=[], metavar="PATH",
                    dest="chaos_scenario", help="run this scenario file as a test (repeatable)")
    group.addoption("--chaos-reports", default=None, metavar="DIR", dest="chaos_reports",
                    help="where runs write their directories (default: reports/)")
    for name in _OVERRIDE_OPTIONS:
        group.addoption(f"--chaos-{name}", default=None, dest=f"chaos_{name}",
                        help=f"override every scenario's {name}")


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker; make ``--chaos-scenario`` paths the collection's arguments."""
    config.addinivalue_line(
        "markers", "chaos_scenario(path, check=True, **overrides): the scenario the chaos_run "
        "fixture runs for this test (overrides: duration, profile, seed, users, workers)")
    scenarios = [str(Path(p).resolve()) for p in config.getoption("chaos_scenario") or []]
    if not scenarios:
        return
    source = getattr(config, "args_source", None)
    explicit = source == pytest.Config.ArgsSource.ARGS
    config.args = (list(config.args) if explicit else []) + scenarios


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    """Collect exactly the TOML files named by ``--chaos-scenario``."""
    wanted = {str(Path(p).resolve()) for p in parent.config.getoption("chaos_scenario") or []}
    if file_path.suffix == ".toml" and str(file_path.resolve()) in wanted:
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


class ScenarioFile(pytest.File):
    """A scenario file given with ``--chaos-scenario``: one test, the scenario itself."""

    def collect(self) -> Iterator[pytest.Item]:
        """One item named after the file."""
        yield ScenarioItem.from_parent(self, name=self.path.stem)


class ScenarioItem(pytest.Item):
    """Runs the scenario; fails with the failed verdicts unless they are as expected."""

    def runtest(self) -> None:
        """Carry out the run; raise :class:`ChaosFailure` when it is not as expected."""
        run = execute(self.config, self.path, {})
        self.user_properties.append(("report", str(run.report)))
        if not run.as_expected:
            raise ChaosFailure(failure_message(run))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException],
                     style: Any = None) -> str:
        """The failure message alone (no traceback into the plugin)."""
        if isinstance(excinfo.value, ChaosFailure):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        """Where the test comes from, for pytest's report lines."""
        return self.path, None, f"chaos scenario {self.name}"


@pytest.fixture
def chaos_run(request: pytest.FixtureRequest) -> ChaosRun:
    """Run the test's ``chaos_scenario`` marker's scenario and hand back its outcome.

    With ``check=True`` (the default) the test also fails, after its body, when the
    verdicts are not what the scenario expects.
    """
    marker = request.node.get_closest_marker("chaos_scenario")
    if marker is None or not marker.args:
        raise pytest.UsageError(
            f"{request.node.nodeid}: chaos_run needs @pytest.mark.chaos_scenario(PATH)")
    kwargs = dict(marker.kwargs)
    check = bool(kwargs.pop("check", True))
    path = Path(str(marker.args[0]))
    if not path.is_absolute():
        path = Path(str(request.config.rootpath)) / path
    run = execute(request.config, path, kwargs, check)
    request.node.stash[_CHAOS_KEY] = run
    request.node.user_properties.append(("report", str(run.report)))
    return run


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """After a test that used ``chaos_run`` passed its own asserts, check the verdicts."""
    result = yield
    run = item.stash.get(_CHAOS_KEY, None)
    if run is not None and run.check and not run.as_expected:
        raise ChaosFailure(failure_message(run))
    return result
