"""The live progress line: elapsed time, requests per second, error rate, current faults.

It reads the load generator's request files as they grow (the conductor never
imports Locust), so it shows what really reached the app.
"""

from __future__ import annotations

import sys
from pathlib import Path

from rich.console import Console

__all__ = ["Progress", "RequestTail"]


class RequestTail:
    """Counts rows and failures appended to ``requests-*.csv`` since the last look."""

    def __init__(self, requests_dir: Path) -> None:
        self.dir = requests_dir
        self._offsets: dict[Path, int] = {}
        self._partial: dict[Path, bytes] = {}
        self.total = 0
        self.failed = 0

    def poll(self) -> tuple[int, int]:
        """(new rows, new failed rows) since the previous call."""
        rows = failed = 0
        for path in sorted(self.dir.glob("requests-*.csv")):
            try:
                with path.open("rb") as fh:
                    fh.seek(self._offsets.get(path, 0))
                    data = self._partial.pop(path, b"") + fh.read()
                    self._offsets[path] = fh.tell()
            except OSError:
                continue
            lines = data.split(b"\n")
            self._partial[path] = lines.pop()  # an unfinished last line waits for the next poll
            for line in lines:
                if not line or line.startswith(b"t_s,"):
                    continue
                rows += 1
                cols = line.split(b",", 4)
                if len(cols) > 3 and cols[3] == b"0":
                    failed += 1
        self.total += rows
        self.failed += failed
        return rows, failed


class Progress:
    """One status line, refreshed about once a second (plain lines when not a terminal)."""

    def __init__(self, scenario: str, duration_s: float, requests_dir: Path) -> None:
        self.scenario = scenario
        self.duration_s = duration_s
        self.tail = RequestTail(requests_dir)
        self.console = Console(file=sys.stderr, highlight=False)
        self._last_plain = -10.0
        self._width = 0  # the longest line shown: a shorter one is padded over it

    def tick(self, elapsed_s: float, interval_s: float, faults: list[str]) -> str:
        rows, failed = self.tail.poll()
        rps = rows / interval_s if interval_s > 0 else 0.0
        err = 100.0 * failed / rows if rows else 0.0
        active = ", ".join(faults) if faults else "none"
        line = (f"{self.scenario}: {elapsed_s:5.0f}/{self.duration_s:.0f}s  {rps:7.1f} req/s  "
                f"errors {err:5.1f}%  faults: {active}")
        if self.console.is_terminal:
            # "\r" returns to the line's start without clearing it: pad over a longer old line
            self._width = max(self._width, len(line))
            self.console.print(line.ljust(self._width), end="\r", soft_wrap=True, markup=False)
        elif elapsed_s - self._last_plain >= 10.0:
            self.console.print(line, soft_wrap=True)
            self._last_plain = elapsed_s
        return line

    def done(self) -> None:
        if self.console.is_terminal:
            self.console.print()
