"""Time to ready of the embedded Postgres provider (initdb + start + first query).

Prints the median of 5 cold starts (a new data dir each) and 5 warm restarts,
and records them in benchmarks/RESULTS.md. Goal (issue 4): ready in under 3 s.

    .venv/bin/python benchmarks/provision.py
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._results import record_section  # noqa: E402
from harness.provision.postgres import EmbeddedPostgres  # noqa: E402

RUNS = 5


def cold_start_s() -> float:
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as logs, EmbeddedPostgres(log_dir=Path(logs)):
        return time.monotonic() - started


def main() -> int:
    cold = [cold_start_s() for _ in range(RUNS)]
    with tempfile.TemporaryDirectory() as logs, EmbeddedPostgres(log_dir=Path(logs)) as pg:
        warm = [pg.restart("fast") for _ in range(RUNS)]
    cold_med, warm_med = statistics.median(cold), statistics.median(warm)
    lines = [
        f"- initdb + start + first query (cold), median of {RUNS}: **{cold_med:.2f} s** "
        f"(min {min(cold):.2f}, max {max(cold):.2f}); goal < 3 s: {'met' if cold_med < 3 else 'NOT met'}",
        f"- restart (fast stop + start + first query), median of {RUNS}: **{warm_med:.2f} s**",
        f"- ratio cold / warm in this run: {cold_med / warm_med:.1f}x",
    ]
    print("\n".join(lines))
    record_section("Provisioning (benchmarks/provision.py)", lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
