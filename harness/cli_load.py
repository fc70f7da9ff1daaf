"""``chaosharness load-worker``: a Locust worker on another host joins a run's load."""

from __future__ import annotations

import argparse

__all__ = ["add_parsers"]


def cmd_load_worker(args: argparse.Namespace) -> int:
    from harness.load.remote import run_worker

    return run_worker(args.master, timeout_s=args.timeout)


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "load-worker", help="join a run's load from this host (a Locust worker of its master)",
        description="Ask the master for the run's load config (and the run's own locustfile, "
                    "if it has one), then run the harness' locustfile, or that one, as a "
                    "Locust worker of it. Start it on each host once `chaosharness run "
                    "--expect-workers N --master-bind HOST:PORT` waits for workers "
                    "(docs/scale-out.md).")
    p.add_argument("--master", required=True, metavar="HOST:PORT",
                   help="where the run's master listens (its --master-bind)")
    p.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS",
                   help="how long to keep asking the master for the config (default 60)")
    p.set_defaults(func=cmd_load_worker)
