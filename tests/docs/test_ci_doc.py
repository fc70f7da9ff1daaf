"""docs/ci.md and ci/nightly-chaos.yml stay true: the YAML parses, every chaosharness command
they call exists with the options they pass, and the pytest example runs as written."""

from __future__ import annotations

import importlib.metadata
import re
import shlex
from pathlib import Path

import pytest
import yaml

from harness.cli import build_parser

pytest_plugins = ["pytester"]
ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "ci.md").read_text(encoding="utf-8")
WORKFLOW = ROOT / "ci" / "nightly-chaos.yml"


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", DOC, flags=re.S)


def _commands(text: str) -> list[list[str]]:
    """Every ``chaosharness ...`` command line in ``text``, split like a shell would."""
    out = []
    for match in re.finditer(r"(?:\.venv/bin/)?chaosharness ([^\n|&;`\"]+)", text):
        out.append(shlex.split(match.group(1).split("||")[0]))
    return out


def test_the_workflow_parses_and_runs_the_nightly_suite_then_trend() -> None:
    doc = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    steps = doc["jobs"]["chaos"]["steps"]
    runs = "\n".join(str(s.get("run", "")) for s in steps)
    assert "chaosharness suite nightly" in runs and "chaosharness trend" in runs
    assert runs.index("suite nightly") < runs.index("trend")
    assert any("upload-artifact" in str(s.get("uses", "")) for s in steps)
    gitlab = yaml.safe_load(_blocks("yaml")[0])
    assert "chaosharness suite nightly" in "\n".join(gitlab["nightly-chaos"]["script"])


def test_every_command_the_ci_files_call_exists() -> None:
    parser = build_parser()
    code = re.findall(r"```\w*\n(.*?)```", DOC, flags=re.S) + re.findall(r"`([^`\n]+)`", DOC)
    texts = [WORKFLOW.read_text(encoding="utf-8"), *code]
    commands = [c for text in texts for c in _commands(text)]
    assert {c[0] for c in commands} >= {"suite", "trend"}
    choices = next(a.choices for a in parser._actions if a.choices and "run" in a.choices)
    for argv in commands:
        if len(argv) == 1:  # prose naming a command (`chaosharness trend`): it must exist
            assert argv[0] in choices, argv
            continue
        try:
            parser.parse_args(argv)
        except SystemExit as exc:  # argparse: unknown command or option
            raise AssertionError(f"chaosharness {' '.join(argv)} does not parse") from exc


@pytest.mark.integration
@pytest.mark.slow
def test_the_pytest_example_runs_as_written(pytester: pytest.Pytester) -> None:
    """The doc's test module, copied as it is, next to the shipped scenarios: both tests pass
    (the resilient run as expected; the naive control's detector fired); then the doc's
    ``pytest --chaos-scenario`` line passes too."""
    (pytester.path / "scenarios").symlink_to(ROOT / "scenarios")
    example = next(b for b in _blocks("python") if "chaos_scenario" in b)
    pytester.makepyfile(test_ci_example=example)
    names = {e.name for e in importlib.metadata.entry_points(group="pytest11")}
    plugin = [] if "chaosharness" in names else ["-p", "harness.pytest_plugin"]
    result = pytester.runpytest_subprocess(*plugin, "-p", "no:cacheprovider",
                                           "--chaos-reports", str(pytester.path / "reports"),
                                           timeout=400)
    result.assert_outcomes(passed=2)
    line = next(b for b in _blocks("sh") if "--chaos-scenario" in b).strip()
    argv = shlex.split(line)[1:]  # the doc's pytest command line, as written
    result = pytester.runpytest_subprocess(*plugin, "-p", "no:cacheprovider", *argv,
                                           "--chaos-reports", str(pytester.path / "reports-cli"),
                                           timeout=400)
    result.assert_outcomes(passed=1)
