"""Merge a full-size load's per-process request files: seconds and size per gzip level.

A 24 h soak at 10x load records ~10 M rows, one ``requests-<pid>.csv`` per Locust
process (two here, rows as the recorder writes them: nearly in ``t_s`` order). Times
``merge_request_files`` into ``requests.csv`` (plain, as before) and into
``requests.csv.gz`` at gzip levels 1, 3 and 6, and reads how fast verify's reader
gets the rows back from each, to choose the level the conductor uses
(``harness.requests_file.GZIP_LEVEL``).

    .venv/bin/python benchmarks/merge.py [--rows N] [--no-record]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._results import record_section  # noqa: E402
from harness import requests_file  # noqa: E402
from harness.load.command import merge_request_files  # noqa: E402
from harness.load.config import REQUEST_COLUMNS  # noqa: E402
from harness.verify.requests import read_requests  # noqa: E402

DURATION_S = 86_400.0
PROCESSES = 2


def generate(requests_dir: Path, rows: int, seed: int = 7) -> None:
    """``rows`` rows over a day across :data:`PROCESSES` files, each in end-time order."""
    rng = random.Random(seed)
    per = rows // PROCESSES
    for p in range(PROCESSES):
        step = DURATION_S / per
        with (requests_dir / f"requests-{1000 + p}.csv").open("w") as fh:
            fh.write(",".join(REQUEST_COLUMNS) + "\n")
            lines = []
            for i in range(per):
                lat = rng.lognormvariate(1.5, 0.6)
                t = 10.0 + i * step - lat / 1000.0
                if i % 2:
                    lines.append(f"{t:.6f},post_message,201,1,{lat:.3f},,k7-{p}-{i % 20}-{i:08d},1,1\n")
                else:
                    lines.append(f"{t:.6f},read_history,200,1,{lat:.3f},,,,1\n")
                if len(lines) >= 100_000:
                    fh.write("".join(lines))
                    lines.clear()
            fh.write("".join(lines))


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--no-record", action="store_true", help="do not write RESULTS.md")
    args = ap.parse_args()
    lines: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp) / "requests"
        d.mkdir()
        generate(d, args.rows)
        raw_mb = sum(p.stat().st_size for p in d.iterdir()) / 1e6
        lines.append(f"- {args.rows:,} rows in {PROCESSES} per-process files ({raw_mb:.0f} MB of "
                     f"CSV, a day at {args.rows / DURATION_S:.0f} requests/s), load average "
                     f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; one run each:")
        for level in (None, 1, 3, 6):
            out = Path(tmp) / ("requests.csv" if level is None else f"requests-{level}.csv.gz")
            if level is not None:
                requests_file.GZIP_LEVEL = level
            started = time.monotonic()
            n = merge_request_files(d, out)
            merged = time.monotonic() - started
            started = time.monotonic()
            read = len(read_requests(out, _NoLedger()))
            back = time.monotonic() - started
            assert n == read == args.rows, (n, read)
            size = out.stat().st_size / 1e6
            what = "plain requests.csv" if level is None else f"gzip level {level}"
            lines.append(f"  - {what}: merge **{merged:.1f} s**, **{size:.0f} MB** "
                         f"({raw_mb / size:.1f}x smaller than the CSV), read back by verify's "
                         f"reader in {back:.1f} s")
            out.unlink()
    lines.append(f"- the conductor uses level {_chosen()}: see harness/requests_file.py")
    print("\n".join(lines))
    if not args.no_record:
        record_section("Merge at full size (benchmarks/merge.py)", lines)
    return 0


class _NoLedger:
    """Reads the rows only (the keys are verify's business, not the format's)."""

    def add_columns(self, *_: object) -> None:
        return None


def _chosen() -> int:
    import importlib

    return importlib.reload(requests_file).GZIP_LEVEL


if __name__ == "__main__":
    sys.exit(main())
