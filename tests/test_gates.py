"""The gates nobody quietly switches off: ruff and mypy (disallow_untyped_defs) over the code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_is_clean() -> None:
    """ruff (E, F, W, I, B, UP, C901 as configured in pyproject) finds nothing."""
    out = subprocess.run([sys.executable, "-m", "ruff", "check", "harness", "reference_impl", "tests",
                          "benchmarks"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stdout[-3000:]


def test_mypy_is_clean() -> None:
    """mypy with the pyproject settings (every def typed) finds nothing."""
    out = subprocess.run([sys.executable, "-m", "mypy"], capture_output=True, text=True, cwd=ROOT,
                         timeout=600)
    assert out.returncode == 0, out.stdout[-3000:]
