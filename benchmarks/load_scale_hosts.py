"""benchmarks/load_scale.py across real hosts: the master here, the workers on other hosts.

Run on the run's host (10.0.0.1 below); it starts the target (the trivial endpoint, bound
on the master's address so the load hosts reach it, or uses ``--target URL``), runs the
baseline (one standalone Locust process on this host), then a master bound on
``--master-bind`` that waits for ``--workers`` workers, and prints the command to start on
each load host for every round (a worker ends with its run):

    .venv/bin/python benchmarks/load_scale_hosts.py --master-bind 10.0.0.1:5557 --workers 4
    .venv/bin/chaosharness load-worker --master 10.0.0.1:5557          # on each load host

It records req/s, rows sent vs received and the master's CPU per 1,000 rows in
benchmarks/RESULTS.md under its own section (one per worker count), with the ratio to
the baseline of the same invocation; run it once per worker count (1, 2, 4, ...).
``--target URL`` is a reference app reachable from the load hosts (e.g.
``python -m reference_impl serve --host 10.0.0.1 --port 8080``); its load is the
reference mix. Docs: docs/scale-out.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.load_scale import Outcome, _line, _run  # noqa: E402

if TYPE_CHECKING:
    from harness.provision.process import Supervisor


async def _serve(host: str) -> None:
    from benchmarks.recorder import _Trivial

    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Trivial, host, 0)
    print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
    await server.serve_forever()


def _trivial(sup: Supervisor, host: str) -> str:
    from harness.provision.ready import wait_until

    server = sup.spawn("trivial-server", [sys.executable, __file__, "--serve", host])
    wait_until(lambda: "PORT" in server.log_path.read_text(), 15.0, what="trivial server")
    return f"http://{host}:" + server.log_path.read_text().split("PORT ")[1].split()[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--master-bind", required=False, metavar="HOST:PORT",
                        help="where the master listens for the load hosts' workers")
    parser.add_argument("--workers", type=int, default=2, help="workers to wait for (default 2)")
    parser.add_argument("--target", default="trivial",
                        help="'trivial' (started here, default) or the URL of a reference app")
    parser.add_argument("--seconds", type=int, default=30, help="load per run (default 30)")
    parser.add_argument("--rounds", type=int, default=1, help="rounds (default 1)")
    parser.add_argument("--users", type=int, default=20, help="users per run (default 20)")
    parser.add_argument("--wait", type=float, default=600.0,
                        help="seconds to wait for the workers of a run (default 600)")
    parser.add_argument("--serve", metavar="HOST", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(_serve(args.serve))
        return 0
    if not args.master_bind or args.workers < 1:
        parser.error("--master-bind HOST:PORT and --workers >= 1 are needed")
    from benchmarks._results import record_section
    from harness.load.remote import parse_hostport
    from harness.provision.process import Supervisor

    bind = parse_hostport(args.master_bind)
    kind = "trivial" if args.target == "trivial" else "reference"
    base: list[Outcome] = []
    runs: list[Outcome] = []
    with tempfile.TemporaryDirectory() as tmp_name, Supervisor(Path(tmp_name) / "logs") as sup:
        tmp = Path(tmp_name)
        url = _trivial(sup, bind[0]) if kind == "trivial" else args.target
        load = os.getloadavg()[0]
        started = time.monotonic()
        for k in range(args.rounds):
            base.append(_run(sup, tmp, kind, url, 0, args, k))
            runs.append(_run(sup, tmp, kind, url, args.workers, args, k, bind=bind))
            print(f"round {k}: baseline {base[-1].rps:,.0f} req/s, {args.workers} worker(s) "
                  f"{runs[-1].rps:,.0f} req/s", flush=True)
    lines = [
        f"- the harness' locustfile against {url} ({kind}), {args.users} users, no think time, "
        f"{args.seconds} s per run, {args.rounds} round(s), {time.monotonic() - started:.0f} s "
        f"in all; the master on this host bound on {args.master_bind}, its workers "
        f"`chaosharness load-worker` on other hosts; load average here {load:.1f} at the start",
        f"- {_line(base, base)}",
        f"- {_line(runs, base)}",
    ]
    print("\n".join(lines))
    record_section(f"Load scale-out across hosts (benchmarks/load_scale_hosts.py, "
                   f"{args.workers} workers)", lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
