"""The ``locust`` command line and merging its per-process request files (no locust import).

The conductor spawns ``locust_argv(...)`` through the supervisor (with the load
config named by ``--chaosharness-config``), waits for it, then calls
``merge_request_files(requests_dir, run_dir / "requests.csv.gz")`` (gzip as it is written,
:mod:`harness.requests_file`), then :func:`remove_request_files` once that succeeded.
"""

from __future__ import annotations

import csv
import heapq
import math
import sys
from collections.abc import Iterator
from pathlib import Path

from harness.load.config import CONFIG_ARG, CONFIG_ENV, REQUEST_COLUMNS, REQUEST_FILE_GLOB
from harness.provision.ports import free_port
from harness.requests_file import write_requests

__all__ = ["LOCUSTFILE", "locust_argv", "locust_env", "merge_request_files",
           "remove_request_files"]

#: The harness' own locustfile (the reference API).
LOCUSTFILE = Path(__file__).with_name("locustfile.py")
_COLUMNS = list(REQUEST_COLUMNS)
_WRITE_KEY = REQUEST_COLUMNS.index("write_key")
#: Where the master of a multi-process load listens for its workers: loopback only.
_MASTER_HOST = "127.0.0.1"


def locust_argv(
    config_path: Path | str, host: str, *, workers: int, users: int, spawn_rate: float,
    run_time_s: float, locustfile: Path | str | None = None, stop_timeout_s: float = 10.0,
    python: str = sys.executable, expect_workers: int = 0,
    master_bind: tuple[str, int] | None = None, expect_workers_timeout_s: float = 60.0,
    master_port: int | None = None,
) -> list[str]:
    """``python -m locust --headless ...`` for one load run.

    ``workers`` > 0 runs that many worker processes (``--processes``); ``expect_workers`` > 0
    makes this a master listening on ``master_bind`` that starts when that many workers on
    other hosts joined (within ``expect_workers_timeout_s``, else Locust gives up). Failed requests are
    data, not an error, so the exit code is 0 when Locust itself worked. ``stop_timeout_s``
    lets in-flight tasks (a write and its retries) finish at the end, so no write is
    left half-recorded; the conductor passes about ``request_timeout * (retries + 1)``.
    The config path goes in ``--chaosharness-config`` for the harness' own locustfile;
    a user's ``locustfile`` would reject that option, so pass :func:`locust_env` instead.

    With workers the master listens on loopback only (``--master-bind-host 127.0.0.1``) and
    on ``master_port`` (default: a free port picked now), never Locust's default of every
    interface on 5557: that would expose the load generator and make two concurrent runs
    collide. The forked workers are told the same port (``--master-port``).
    """
    if workers < 0 or users < 1 or spawn_rate <= 0 or run_time_s <= 0:
        raise ValueError(f"locust_argv: workers >= 0, users >= 1, spawn_rate > 0 and "
                         f"run_time_s > 0 needed, got {workers}, {users}, {spawn_rate}, "
                         f"{run_time_s}")
    own = locustfile is None or Path(locustfile).resolve() == LOCUSTFILE.resolve()
    argv = [
        python, "-m", "locust", "-f", str(locustfile or LOCUSTFILE), "--headless",
        "--host", host, "--users", str(users), "--spawn-rate", f"{spawn_rate:g}",
        "--run-time", f"{math.ceil(run_time_s)}s", "--stop-timeout", f"{math.ceil(stop_timeout_s)}",
        "--exit-code-on-error", "0", "--only-summary", "--skip-log-setup",
    ]
    if own:  # a user's locustfile does not declare the option: it gets locust_env() only
        argv += [CONFIG_ARG, str(config_path)]
    if workers > 0:
        port = master_port if master_port is not None else free_port(_MASTER_HOST)
        argv += ["--processes", str(workers), "--master-bind-host", _MASTER_HOST,
                 "--master-bind-port", str(port), "--master-host", _MASTER_HOST,
                 "--master-port", str(port)]
    if expect_workers > 0:  # workers on other hosts (chaosharness load-worker) join this master
        host, port = master_bind or ("127.0.0.1", 5557)
        argv += ["--master", "--expect-workers", str(expect_workers),
                 "--expect-workers-max-wait", f"{math.ceil(expect_workers_timeout_s)}",
                 "--master-bind-host", host, "--master-bind-port", str(port)]
    return argv


def locust_env(config_path: Path | str) -> dict[str, str]:
    """Environment entries naming the load config, for any locustfile (merge into the
    child's environment; a user's own locustfile reads ``CHAOSHARNESS_LOAD_CONFIG``)."""
    return {CONFIG_ENV: str(config_path)}


def _rows(path: Path) -> Iterator[tuple[float, list[str]]]:
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None:
            return
        if header != _COLUMNS:
            raise ValueError(f"{path}: unexpected header {header}, expected {_COLUMNS}")
        for row in reader:
            if len(row) == len(_COLUMNS):  # a torn last line of a killed process is dropped
                yield float(row[0]), row


def _reordered(rows: Iterator[tuple[float, list[str]]], window_s: float) -> Iterator[
        tuple[float, list[str]]]:
    """``rows`` in ``t_s`` order, given that none arrives more than ``window_s`` late.

    A process writes a row when its request ends and ``t_s`` is when it started, so its
    file is in order up to the longest request; a bounded heap restores the order in
    streaming fashion (a 24 h soak's file is never held in memory whole). A row later
    than that (it cannot happen with request timeouts of seconds) is still written, just
    out of place, rather than losing the run's data.
    """
    heap: list[tuple[float, int, list[str]]] = []
    newest = -math.inf
    for seq, (t, row) in enumerate(rows):
        heapq.heappush(heap, (t, seq, row))
        newest = max(newest, t)
        while heap and heap[0][0] < newest - window_s:
            t0, _, r = heapq.heappop(heap)
            yield t0, r
    while heap:
        t0, _, r = heapq.heappop(heap)
        yield t0, r


def merge_request_files(
    requests_dir: Path | str, out_csv: Path | str, reorder_window_s: float = 600.0,
    counts: dict[str, int] | None = None,
) -> int:
    """Merge every ``requests-<pid>.csv`` in ``requests_dir`` into ``out_csv`` sorted by
    ``t_s``; returns the number of rows. ``out_csv`` ending in ``.gz`` (the conductor's
    ``requests.csv.gz``) is gzipped as it is written, never held whole. Rows are streamed;
    each file is reordered within ``reorder_window_s`` (far beyond any request timeout).
    ``counts``, when given, receives ``rows`` and ``writes`` (rows with a write key)."""
    files = sorted(Path(requests_dir).glob(REQUEST_FILE_GLOB))
    streams = [_reordered(_rows(f), reorder_window_s) for f in files]
    count = 0
    out = Path(out_csv)
    with write_requests(out) as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(_COLUMNS)
        writes = 0
        for _, row in heapq.merge(*streams, key=lambda r: r[0]):
            writer.writerow(row)
            count += 1
            writes += row[_WRITE_KEY] != ""
    if counts is not None:
        counts.update(rows=count, writes=writes)
    return count


def remove_request_files(requests_dir: Path | str) -> int:
    """Delete the per-process ``requests-*.csv`` once they are merged (a day's raw rows are
    ~5x the merged gzip); ``workers.jsonl`` stays. Returns how many files went."""
    files = sorted(Path(requests_dir).glob(REQUEST_FILE_GLOB))
    for f in files:
        f.unlink(missing_ok=True)
    return len(files)
