"""Stages talk through files: `verify` and `report` work on a copied run directory."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from harness.cli import main

pytestmark = pytest.mark.integration


def test_verify_and_report_on_a_copy(short_run: Path, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    """Provoke: copy a run directory, delete its verdict and reports. Must hold: `verify` writes
    the same verdicts again and `report` renders every report file from the files alone."""
    copy = tmp_path / short_run.name
    shutil.copytree(short_run, copy)
    before = json.loads((copy / "result.json").read_text())
    for name in ("result.json", "report.md", "report.html", "junit.xml"):
        (copy / name).unlink()
    code = main(["verify", str(copy)])
    after = json.loads((copy / "result.json").read_text())
    assert code == (0 if after["as_expected"] else 1)
    assert [(s["name"], s["phase"], s["verdict"]) for s in before["slos"]] == \
        [(s["name"], s["phase"], s["verdict"]) for s in after["slos"]]
    assert main(["report", str(copy)]) == 0
    for name in ("report.md", "report.html", "junit.xml"):
        assert (copy / name).is_file()
    assert str(copy) in capsys.readouterr().out
