"""Load beyond one process: req/s with 1, 2 and 4 Locust workers, and what the master pays.

Run as a script, it starts a trivial HTTP server (benchmarks/recorder.py's) and the
reference app on an embedded Postgres, and against each runs the harness' locustfile

* as the **baseline**: one standalone Locust process writing its own request file (what a
  run without workers does);
* as a **master** (``--expect-workers N``, bound on loopback) with N ``chaosharness
  load-worker`` processes that fetch the load config from it and ship every request row to
  it over Locust's messages (the path a worker on another host takes), for N = 1, 2, 4.

For each it records req/s (rows over the span of their ``t_s``), rows the workers said
they sent vs rows the master received and wrote (they must be equal), and the master's
CPU time per 1,000 rows (user + system from the last worker joining to its exit, read
from the exited master before it is reaped). Then it measures the master's ceiling:
workers that only ship rows (benchmarks/_flood_locustfile.py) faster than it takes them,
timed by how fast its files grow; that ceiling over one worker's measured rate is how many
workers a master takes before the row stream limits it. Results go to
benchmarks/RESULTS.md; about 4 minutes. Across real hosts: benchmarks/load_scale_hosts.py.

    .venv/bin/python benchmarks/load_scale.py [--seconds 6] [--rounds 3] [--users 20]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
WORKER_COUNTS = (1, 2, 4)
FLOOD = Path(__file__).with_name("_flood_locustfile.py")
FLOOD_SENDERS = (1, 2)
#: The batch a ceiling run's senders ship again and again (request rows as a worker formats them).
FLOOD_BATCH = 500
FLOOD_TEXT = "".join(f"{i / 1000:.6f},flood,200,1,1.250,,k1-0-0-{i:06d},1,1\n"
                     for i in range(FLOOD_BATCH))
TRIVIAL = ({"name": "trivial", "method": "GET", "path": "/", "weight": 1},)
REFERENCE_MIX = {"post_message": 4, "read_history": 2, "join_room": 1}


@dataclass
class Outcome:
    """One load run: rows, their span, and (with workers) the stream's accounting."""

    label: str
    workers: int
    rows: int
    span_s: float
    sent: int = 0
    received: int = 0
    master_cpu_s: float = 0.0
    failures: int = 0

    @property
    def rps(self) -> float:
        return self.rows / self.span_s if self.span_s > 0 else 0.0

    @property
    def cpu_ms_per_1000(self) -> float:
        return self.master_cpu_s / self.rows * 1e6 if self.rows else 0.0


def _count_rows(requests_dir: Path) -> tuple[int, float, int]:
    """(rows, span of their t_s, rows not ok) over every request file written."""
    rows, failures = 0, 0
    first, last = float("inf"), float("-inf")
    for path in sorted(requests_dir.glob("requests-*.csv")):
        with path.open(newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                t = float(row["t_s"])
                first, last = min(first, t), max(last, t)
                rows += 1
                failures += row["ok"] not in ("1", "true", "True")
    return rows, (last - first if rows else 0.0), failures


def _stream_counts(requests_dir: Path) -> tuple[int, int]:
    """(rows the workers said they shipped, rows the master said it received)."""
    sent = received = 0
    path = requests_dir / "workers.jsonl"
    for line in path.read_text().splitlines() if path.exists() else []:
        event = json.loads(line)
        if event.get("event") == "done":
            sent += int(event.get("sent") or 0)
            received += int(event.get("received") or 0)
    return sent, received


def _joined(requests_dir: Path) -> int:
    path = requests_dir / "workers.jsonl"
    text = path.read_text() if path.exists() else ""
    return sum(json.loads(line).get("event") == "joined" for line in text.splitlines())


def _master_cpu(pid: int, requests_dir: Path, workers: int, timeout_s: float) -> float:
    """The master's user + system CPU seconds from when its last worker joined (its imports
    and start-up are not the row stream's cost) to its exit, read once it has exited but is
    not yet reaped (a zombie keeps its times in /proc), so its last drain is counted too."""
    import psutil

    proc = psutil.Process(pid)
    deadline = time.monotonic() + timeout_s
    start: float | None = None
    cpu = 0.0
    while time.monotonic() < deadline:
        try:
            times = proc.cpu_times()
            cpu = float(times.user + times.system)
            if start is None and _joined(requests_dir) >= workers:
                start = cpu
            if proc.status() == psutil.STATUS_ZOMBIE:
                break
        except psutil.NoSuchProcess:
            break
        time.sleep(0.02)
    else:
        raise RuntimeError(f"process {pid} did not exit within {timeout_s:g} s")
    return cpu - (start if start is not None else cpu)


def _config(tmp: Path, name: str, target: str, args: argparse.Namespace,
            seed: int) -> tuple[Path, Path]:
    from harness.load.config import LoadRunConfig

    requests_dir = tmp / name / "requests"
    requests_dir.mkdir(parents=True)
    trivial = target == "trivial"
    config = LoadRunConfig(
        mix=dict(REFERENCE_MIX), requests=TRIVIAL if trivial else (),
        requests_dir=str(requests_dir), t0_monotonic=time.monotonic(),
        run_time_s=float(args.seconds), seed=seed, users=args.users, spawn_rate=float(args.users),
        wait_ms=(0, 0), request_timeout_s=2.0)
    return config.write(tmp / name / "load.json"), requests_dir


def _run(sup: Any, tmp: Path, target: str, url: str, workers: int,
         args: argparse.Namespace, round_: int, bind: tuple[str, int] | None = None) -> Outcome:
    """One run: a standalone Locust (``workers`` 0) or a master and ``workers`` workers,
    spawned here on loopback, or with ``bind`` awaited from other hosts (load_scale_hosts)."""
    from harness.load.command import locust_argv, locust_env
    from harness.provision.ports import free_port

    name = f"{target}-{round_}-{workers}w"
    # a seed of its own per run: the reference app keeps earlier runs' write keys
    seed = 100 + 10 * round_ + workers
    config_path, requests_dir = _config(tmp, name, target, args, seed=seed)
    host, port = bind or ("127.0.0.1", free_port("127.0.0.1"))
    wait_s = float(getattr(args, "wait", 60.0))
    argv = locust_argv(config_path, url, workers=0, users=args.users,
                       spawn_rate=float(args.users), run_time_s=float(args.seconds),
                       stop_timeout_s=3.0, expect_workers=workers,
                       master_bind=(host, port), expect_workers_timeout_s=wait_s)
    env = {**os.environ, "PYTHONPATH": str(ROOT), **locust_env(config_path)}
    master = sup.spawn(f"{name}-master", argv, env=env)
    worker_env = {k: v for k, v in env.items() if k != "CHAOSHARNESS_LOAD_CONFIG"}
    command = ["chaosharness", "load-worker", "--master", f"{host}:{port}"]
    if bind is not None and workers:
        print(f"waiting for {workers} load worker(s); on each load host run: "
              f"{' '.join(command)}", flush=True)
    children = [] if bind is not None else [
        sup.spawn(f"{name}-worker{i}", [sys.executable, "-m", "harness.cli", *command[1:]],
                  env=worker_env) for i in range(workers)]
    cpu = _master_cpu(master.pid, requests_dir, workers, args.seconds + wait_s + 60.0)
    code = master.wait(timeout=10)
    for child in children:
        if child.wait(timeout=30) is None:
            raise RuntimeError(f"{child.name} did not exit:\n{child.log_tail(20)}")
    if code != 0:
        raise RuntimeError(f"{master.name} exited {code}:\n{master.log_tail(30)}")
    rows, span, failures = _count_rows(requests_dir)
    sent, received = _stream_counts(requests_dir)
    return Outcome(name, workers, rows, span, sent, received, cpu, failures)


def _lines(requests_dir: Path) -> int:
    """Rows in the master's files, counted by newlines (millions: no CSV parse)."""
    total = 0
    for path in requests_dir.glob("requests-*.csv"):
        with path.open("rb") as fh:
            total += sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b"")) - 1
    return total


@dataclass
class Flood:
    """One run of the master's ceiling: its ingest rate while it had a backlog."""

    senders: int
    rows_per_s: float
    cpu_share: float  # of one core, over the same window
    sent: int
    received: int
    written: int


def _sample_flood(pid: int, requests_dir: Path, timeout_s: float) -> list[tuple[float, int, float]]:
    """(time, bytes in the master's files, master CPU s) every 20 ms until the master exits."""
    import psutil

    proc = psutil.Process(pid)
    samples: list[tuple[float, int, float]] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            times = proc.cpu_times()
            size = sum(p.stat().st_size for p in requests_dir.glob("requests-*.csv"))
            samples.append((time.monotonic(), size, float(times.user + times.system)))
            if proc.status() == psutil.STATUS_ZOMBIE:
                return samples
        except (psutil.NoSuchProcess, FileNotFoundError):
            return samples
        time.sleep(0.02)
    raise RuntimeError(f"process {pid} did not exit within {timeout_s:g} s")


def _flood(sup: Any, tmp: Path, senders: int, args: argparse.Namespace) -> Flood:
    """The master's ceiling: ``senders`` workers that only ship rows (_flood_locustfile.py)
    faster than it takes them; its rate is how fast its files grow while they grow."""
    from harness.load.command import locust_argv, locust_env
    from harness.provision.ports import free_port

    name = f"flood-{senders}"
    config_path, requests_dir = _config(tmp, name, "trivial", args, seed=1)
    port = free_port("127.0.0.1")
    argv = locust_argv(config_path, "http://127.0.0.1:9", workers=0, users=senders,
                       spawn_rate=float(senders), run_time_s=float(args.flood_seconds),
                       locustfile=FLOOD, stop_timeout_s=3.0, expect_workers=senders,
                       master_bind=("127.0.0.1", port), expect_workers_timeout_s=60.0)
    env = {**os.environ, "PYTHONPATH": str(ROOT), **locust_env(config_path),
           "FLOOD_ROWS": str(args.flood_rows)}
    master = sup.spawn(f"{name}-master", argv, env=env)
    workers = [sup.spawn(f"{name}-worker{i}", [
        sys.executable, "-m", "locust", "--worker", "--master-host", "127.0.0.1",
        "--master-port", str(port), "-f", str(FLOOD)], env=env) for i in range(senders)]
    samples = _sample_flood(master.pid, requests_dir, args.flood_seconds + 180.0)
    code = master.wait(timeout=10)
    sent = 0
    for child in workers:
        if child.wait(timeout=30) is None:
            raise RuntimeError(f"{child.name} did not exit:\n{child.log_tail(20)}")
        said = child.log_path.read_text()
        sent += int(said.split("FLOOD_SENT ")[1].split()[0]) if "FLOOD_SENT " in said else 0
    if code != 0:
        raise RuntimeError(f"{master.name} exited {code}:\n{master.log_tail(30)}")
    _, received = _stream_counts(requests_dir)
    final = samples[-1][1]
    growing = [s for s in samples if 1000 < s[1] < final] or samples
    first = growing[0]
    last = next(s for s in samples if s[1] == final)
    span = max(last[0] - first[0], 1e-9)
    row_bytes = len(FLOOD_TEXT) / FLOOD_BATCH
    return Flood(senders, (last[1] - first[1]) / row_bytes / span, (last[2] - first[2]) / span,
                 sent, received, _lines(requests_dir))


def _flood_lines(floods: list[Flood], by: dict[tuple[str, int], list[Outcome]],
                 rows_each: int) -> list[str]:
    """The measured ceiling, and how many workers at the measured rates it takes."""
    best = max(floods, key=lambda f: f.rows_per_s)
    rate = max(o.rps / o.workers for (t, n), outs in by.items() if n and t == "trivial"
               for o in outs)
    ref_rate = max(o.rps / o.workers for (t, n), outs in by.items() if n and t == "reference"
                   for o in outs)
    each = "; ".join(
        f"{f.senders} sender(s): **{f.rows_per_s:,.0f} rows/s**, the master at "
        f"{f.cpu_share:.0%} of a core; rows sent {f.sent:,} / received {f.received:,} / "
        f"written {f.written:,}{'' if f.sent == f.received == f.written else ' NOT equal'}"
        for f in floods)
    return [
        f"- **the master's ceiling, measured**: workers that only ship rows (one pre-formatted "
        f"batch of 500 rows sent back to back, {rows_each:,} rows each, "
        "benchmarks/_flood_locustfile.py) faster than the master takes them; its rate is how "
        f"fast its files grow while they grow: {each}",
        f"- **how many workers a master takes before the row stream limits it**: at the best "
        f"{best.rows_per_s:,.0f} rows/s, **~{best.rows_per_s / rate:.0f} workers** each "
        f"sending the {rate:,.0f} req/s one worker reached against the trivial endpoint here, "
        f"~{best.rows_per_s / ref_rate:.0f} at the reference app's {ref_rate:,.0f} req/s per "
        "worker. "
        + ("The master was not saturated (it waited for rows most of the time: the senders "
           "and the channel, on the same 2 cores, were the limit), so its ceiling is higher "
           "still and these counts are floors. "
           if best.cpu_share < 0.9 else "The master was saturated: that is its ceiling here. ")
        + "Beyond the rows, a Locust master's own per-worker work (heartbeats, dispatching "
        "users, stats) was measured here only up to 4 workers",
    ]


def _line(runs: list[Outcome], bases: list[Outcome]) -> str:
    """One configuration over the rounds: median req/s, the median of each round's ratio to
    that round's baseline, the stream's accounting and the master's CPU."""
    rps = statistics.median(o.rps for o in runs)
    each = ", ".join(f"{o.rps:,.0f}" for o in runs)
    failures = sum(o.failures for o in runs)
    if not runs[0].workers:
        return (f"baseline (one standalone Locust process, writing its own file): "
                f"**{rps:,.0f} req/s** (runs: {each}; {failures} not ok)")
    ratio = statistics.median(o.rps / b.rps for o, b in zip(runs, bases, strict=True))
    sent, received = sum(o.sent for o in runs), sum(o.received for o in runs)
    rows, cpu = sum(o.rows for o in runs), sum(o.master_cpu_s for o in runs)
    equal = all(o.sent == o.received == o.rows for o in runs)
    return (f"{runs[0].workers} worker(s): **{rps:,.0f} req/s** (runs: {each}; {failures} not "
            f"ok), ratio to the baseline **{ratio:.2f}**; rows sent {sent:,} / received "
            f"{received:,} / in the master's files {rows:,}: "
            f"{'equal in every run' if equal else 'NOT equal'}; master CPU "
            f"**{cpu / rows * 1e6:.1f} ms per 1,000 rows** ({cpu:.2f} s in all)")


def _fit(runs: list[Outcome], seconds: int) -> tuple[float, float, float]:
    """Least squares over the runs with workers: the master's share of one core =
    fixed + per_worker * workers + per_row * rows/s. Returns (fixed, per_worker, per_row_s),
    the first two as fractions of a core, negative estimates (noise) clamped to 0."""
    import numpy as np

    x = np.array([[1.0, o.workers, o.rows / seconds] for o in runs])
    y = np.array([o.master_cpu_s / seconds for o in runs])
    coef = np.linalg.lstsq(x, y, rcond=None)[0]
    fixed, per_worker, per_row = (max(0.0, float(c)) for c in coef)
    return fixed, per_worker, per_row


def _capacity(by: dict[tuple[str, int], list[Outcome]], seconds: int) -> list[str]:
    """How many workers one master takes before the rows it receives use a whole core."""
    runs = [o for (_, n), outs in by.items() if n for o in outs]
    fixed, per_worker, per_row = _fit(runs, seconds)
    rate = max(o.rps / o.workers for (t, n), outs in by.items() if n and t == "trivial"
               for o in outs)
    ref_rate = max(o.rps / o.workers for (t, n), outs in by.items() if n and t == "reference"
                   for o in outs)

    def fits(per_worker_rps: float) -> float:
        return (1.0 - fixed) / max(per_worker + per_row * per_worker_rps, 1e-12)

    busiest = max(runs, key=lambda o: o.master_cpu_s)
    return [
        f"- the master was busy at most **{busiest.master_cpu_s / seconds:.1%} of one core** "
        f"(a {busiest.workers}-worker run at {busiest.rps:,.0f} rows/s)",
        f"- the master's CPU, fitted over the {len(runs)} runs with workers (least squares): "
        f"{fixed:.1%} of a core fixed + {per_worker:.2%} per worker + **{per_row * 1e6:.1f} us "
        f"per row** (the rows arrive as pre-formatted CSV text in batches of up to 500); the "
        "fixed part is why the reference app's slower runs show more CPU per 1,000 rows",
        f"- the fit's extrapolation, for comparison with the ceiling measured below: one "
        f"worker here sends at most {rate:,.0f} req/s against the trivial endpoint, so the fit "
        f"puts a full master core at ~{fits(rate):.0f} such workers (~{fits(rate) * rate:,.0f} "
        f"rows/s; ~{fits(ref_rate):.0f} at the reference app's {ref_rate:,.0f} req/s per "
        "worker), far beyond the rates measured: costs the fit cannot see may come first",
    ]


def _reference(sup: Any, dsn: str) -> str:
    import functools

    import httpx

    from benchmarks.app import _env, _spawn
    from harness.provision.pg_probe import run_sync
    from harness.provision.ready import wait_until
    from reference_impl.db.migrate import migrate_up

    run_sync(functools.partial(migrate_up, dsn), timeout=60)
    _, url = _spawn(sup, "reference-app", [sys.executable, "-m", "reference_impl", "serve",
                                           "--port", "0"], _env(dsn))
    wait_until(lambda: httpx.get(url + "/health/ready").status_code == 200, 60,
               what="reference app ready")
    return url


def _trivial(sup: Any) -> str:
    from harness.provision.ready import wait_until

    server = sup.spawn("trivial-server", [sys.executable, str(ROOT / "benchmarks/recorder.py"),
                                          "--serve"])
    wait_until(lambda: "PORT" in server.log_path.read_text(), 15.0, what="trivial server")
    return "http://127.0.0.1:" + server.log_path.read_text().split("PORT ")[1].split()[0]


def measure(args: argparse.Namespace) -> tuple[dict[tuple[str, int], list[Outcome]],
                                               list[Flood], float]:
    """Every run by (target, workers), rounds in order, the master's ceiling runs, and the
    load average at the start."""
    from harness.provision.postgres import EmbeddedPostgres
    from harness.provision.process import Supervisor

    by: dict[tuple[str, int], list[Outcome]] = {}
    with tempfile.TemporaryDirectory() as tmp_name, \
            EmbeddedPostgres(log_dir=Path(tmp_name), fsync=False, max_connections=100) as pg, \
            Supervisor(Path(tmp_name) / "logs") as sup:
        tmp = Path(tmp_name)
        urls = {"trivial": _trivial(sup), "reference": _reference(sup, pg.dsn)}
        load = os.getloadavg()[0]
        for k in range(args.rounds):  # interleaved: the shared machine's drift hits all alike
            for target, url in urls.items():
                for n in (0, *WORKER_COUNTS):
                    outcome = _run(sup, tmp, target, url, n, args, k)
                    by.setdefault((target, n), []).append(outcome)
                    print(f"round {k} {target} {n} worker(s): {outcome.rps:,.0f} req/s, rows "
                          f"{outcome.rows:,} (sent {outcome.sent:,}, received "
                          f"{outcome.received:,}), master CPU {outcome.master_cpu_s:.2f} s",
                          flush=True)
        floods = []
        for senders in FLOOD_SENDERS:
            floods.append(_flood(sup, tmp, senders, args))
            print(f"flood {senders} sender(s): {floods[-1].rows_per_s:,.0f} rows/s, master "
                  f"{floods[-1].cpu_share:.0%} of a core", flush=True)
    return by, floods, load


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=6, help="load per run (default 6)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of every run (default 3)")
    parser.add_argument("--users", type=int, default=20, help="users per run (default 20)")
    parser.add_argument("--flood-seconds", type=int, default=8,
                        help="Locust's run time of each ceiling run (default 8)")
    parser.add_argument("--flood-rows", type=int, default=3_000_000,
                        help="rows each sender of a ceiling run ships (default 3,000,000)")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from benchmarks._results import record_section

    started = time.monotonic()
    by, floods, load = measure(args)
    lines = [
        f"- the harness' locustfile, {args.users} users, no think time, {args.seconds} s per run; "
        "workers are `chaosharness load-worker` processes on loopback (config fetched from the "
        "master, every row shipped to it over Locust's messages), the master a "
        f"`--expect-workers N` Locust; {args.rounds} rounds of every run, interleaved, "
        f"{time.monotonic() - started:.0f} s in all; load average {load:.1f} when they started",
    ]
    for target, what in (("trivial", "trivial endpoint (benchmarks/recorder.py's asyncio "
                                     "server, GET /)"),
                         ("reference", "reference app (post_message 4, read_history 2, "
                                       "join_room 1; embedded Postgres, fsync off)")):
        lines.append(f"- {what}:")
        lines += [f"  - {_line(by[target, n], by[target, 0])}" for n in (0, *WORKER_COUNTS)]
    lines += _capacity(by, args.seconds)
    lines += _flood_lines(floods, by, args.flood_rows)
    lines.append(
        "- this machine has **2 cores** shared by the target, the master, every worker (and "
        "other engineers' test runs): the baseline is one process, at most one core of load, "
        "so workers can gain up to the second core (ratios above 1), and beyond that they only "
        "split the same 2 cores: these runs show what the row stream costs and that no row "
        "is lost, not scale-out. Compare ratios within one run; the absolute figures move "
        "from run to run (see each configuration's runs)")
    print("\n".join(lines))
    record_section("Load scale-out (benchmarks/load_scale.py)", lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
