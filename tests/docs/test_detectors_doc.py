"""docs/detectors.md: every scenario, test and metric its table names exists, and every
detector row names both a control and a clean run."""

from __future__ import annotations

import re
from pathlib import Path

from harness.verify.catalog import METRICS

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "detectors.md"
_TICKED = re.compile(r"`([^`]+)`")
_STEM = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)+")


def _rows() -> list[list[str]]:
    lines = [ln for ln in DOC.read_text().splitlines() if ln.startswith("| ")]
    return [[c.strip() for c in ln.strip("|").split("|")] for ln in lines[1:]]  # no header


def test_every_row_has_a_control_and_a_clean_run_each_with_its_test() -> None:
    rows = _rows()
    assert len(rows) >= 10
    for row in rows:
        assert len(row) == 5 and all(row), row
        assert _TICKED.search(row[1]) and _TICKED.search(row[3]), row  # scenarios named
        assert "tests/" in row[2] and "tests/" in row[4], row


def test_named_scenarios_tests_and_metrics_exist() -> None:
    stems = {p.stem for p in (ROOT / "scenarios").glob("*.toml")}
    for row in _rows():
        for metric in _TICKED.findall(row[0]):
            assert metric in METRICS, (metric, row[0])
        for cell in row[1:]:
            for token in _TICKED.findall(cell):
                if token.startswith("tests/"):
                    path, _, name = token.partition("::")
                    assert f"def {name}(" in (ROOT / path).read_text(), token
                elif _STEM.fullmatch(token):
                    assert token in stems, token
