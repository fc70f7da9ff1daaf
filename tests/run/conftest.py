"""One short real run shared by the tests that read its run directory (it takes ~25 s)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.run import run_scenario

SHORT = Path(__file__).with_name("scenarios") / "short.toml"


@pytest.fixture(scope="session")
def short_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The run directory of tests/run/scenarios/short.toml, carried out for real."""
    reports = tmp_path_factory.mktemp("reports")
    outcome = run_scenario(SHORT, reports_dir=reports, quiet=True)
    assert outcome.status == "complete", outcome.error
    return outcome.run_dir
