"""The live progress line on a terminal: a shorter line fully covers the longer one before it."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from harness.progress import Progress


def test_a_shorter_line_is_padded_over_the_longer_one(tmp_path: Path) -> None:
    progress = Progress("db", 60.0, tmp_path)
    out = io.StringIO()
    progress.console = Console(file=out, force_terminal=True, width=200, color_system=None)
    long_line = progress.tick(1.0, 1.0, ["postgres.stop", "network.latency"])
    short_line = progress.tick(2.0, 1.0, [])
    frames = out.getvalue().split("\r")
    assert frames[0] == long_line and short_line.endswith("faults: none")
    assert frames[1] == short_line.ljust(len(long_line)), "the old line's tail would show"
