"""The run's request log on disk: ``requests.csv.gz`` (new runs) or ``requests.csv`` (older ones).

A 24 h soak at 10x load records ~10 million rows: ~500 MB of CSV, ~100 MB gzipped. The
merge (:func:`harness.load.command.merge_request_files`) writes the gzip form as it goes
(level :data:`GZIP_LEVEL`: measured by benchmarks/merge.py, see benchmarks/RESULTS.md: on
10 M rows level 1 makes the log 4x smaller for 3.5 s more than a plain merge of ~28 s;
level 3 is 4.3x for 1.4 s more, level 6 5x for 7.5 s more). Readers
(verify, the report, the CLI) call :func:`requests_path` and :func:`open_requests`, which
accept either form, so run directories written before the switch still read.

A gzip file cut short (the merge was killed) reads up to where it stops: the bytes that
made it are rows, the last partial line is torn and is dropped as any torn line.
"""

from __future__ import annotations

import gzip
import io
from pathlib import Path
from typing import IO

__all__ = ["GZIP_LEVEL", "REQUESTS_CSV", "REQUESTS_GZ", "open_requests", "requests_path",
           "write_requests"]

#: The merged request log written by new runs.
REQUESTS_GZ = "requests.csv.gz"
#: The plain form written before the switch (still read; also what tests may hand-make).
REQUESTS_CSV = "requests.csv"
#: gzip level of the merge: 1 is ~4x smaller than the CSV at the lowest CPU cost.
GZIP_LEVEL = 1


def requests_path(run_dir: Path | str) -> Path | None:
    """The run's request log: ``requests.csv.gz`` when present, else ``requests.csv``, else None."""
    root = Path(run_dir)
    for name in (REQUESTS_GZ, REQUESTS_CSV):
        p = root / name
        if p.is_file():
            return p
    return None


class _TolerantGzip(io.RawIOBase):
    """A gzip stream whose truncated end (a killed writer) reads as the end of the data."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self._gz = gzip.GzipFile(path, "rb")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        try:
            return self._gz.readinto(buffer)
        except (EOFError, gzip.BadGzipFile):
            return 0  # cut short: what came before is the data

    def close(self) -> None:
        self._gz.close()
        super().close()


def open_requests(path: Path | str) -> IO[str]:
    """Open a request log for reading as text (CSV newline handling), either form.

    Decompression is streamed in 1 MB reads, so a day's log is never held whole."""
    p = Path(path)
    if p.name.endswith(".gz"):
        raw = io.BufferedReader(_TolerantGzip(p), buffer_size=1 << 20)
        return io.TextIOWrapper(raw, encoding="utf-8", newline="")
    return p.open(newline="", encoding="utf-8", buffering=1 << 20)


def write_requests(path: Path | str) -> IO[str]:
    """Open ``path`` for writing a request log: gzip (level :data:`GZIP_LEVEL`) when it
    ends in ``.gz``, else plain text."""
    p = Path(path)
    if p.name.endswith(".gz"):
        gz = gzip.GzipFile(p, "wb", compresslevel=GZIP_LEVEL, mtime=0)
        return io.TextIOWrapper(gz, encoding="utf-8", newline="", write_through=False)
    return p.open("w", newline="", encoding="utf-8", buffering=1 << 20)
