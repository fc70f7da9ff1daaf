"""A bug in the conductor (an exception that is neither a HarnessError nor an OSError) still
ends the run as ``failed`` with the error, and exit 2, never leaving run.json ``running``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness import run as run_module
from harness.run import run_scenario

SHORT = Path(__file__).with_name("scenarios") / "short.toml"


def test_an_unexpected_exception_ends_the_run_as_failed(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(conductor: object, run_dir: Path) -> tuple[str, str]:
        raise RuntimeError("a bug in the conductor")

    monkeypatch.setattr(run_module, "_carry_out", broken)
    outcome = run_scenario(SHORT, reports_dir=tmp_path, quiet=True)
    assert outcome.exit_code == 2 and outcome.status == "failed"
    run = json.loads((outcome.run_dir / "run.json").read_text())
    assert run["status"] == "failed"
    assert run["error"] == "RuntimeError: a bug in the conductor"
    events = [json.loads(x) for x in (outcome.run_dir / "timeline.jsonl").read_text().splitlines()]
    assert events[-1] == {**events[-1], "event": "run_end", "status": "failed"}
