"""``chaosharness postgres``: run an embedded Postgres by hand, or check that one starts."""

from __future__ import annotations

import argparse
import os
import signal
import threading
import time
from pathlib import Path

from harness.provision.pg_probe import fetch
from harness.provision.postgres import PASSWORD_ENV, EmbeddedPostgres
from harness.redact import redact

__all__ = ["add_parsers", "run"]


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("postgres", help="start an embedded Postgres and print its DSN "
                       "(with the generated password: keep the output private)")
    p.add_argument("--check", action="store_true", help="start, run `select 1`, stop, exit 0")
    p.add_argument("--keep", action="store_true", help="keep the data directory at the end")
    p.add_argument("--port", type=int, default=None, help="port to listen on (default: a free one)")
    p.add_argument("--dir", type=Path, default=None, help="base directory (default: a temp dir)")
    p.add_argument("--no-fsync", action="store_true", help="turn fsync off (fast, not durable)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    pg = EmbeddedPostgres(base_dir=args.dir, port=args.port, keep=args.keep,
                          fsync=not args.no_fsync, password=os.environ.get(PASSWORD_ENV))
    stop = threading.Event()
    previous = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        with pg:
            ready_s = time.monotonic() - started
            if args.check:
                value = fetch(pg.dsn, "select 1")[0][0]
                where = redact(pg.dsn)  # a check reports; it has no use for the password
                print(f"postgres {pg.version} ready in {ready_s:.2f}s at {where}: select 1 -> {value}")
                return 0 if value == 1 else 1
            print(pg.dsn, flush=True)  # what this command is for: the password is in it
            print(f"postgres {pg.version} ready in {ready_s:.2f}s (pid {pg.pid}); Ctrl-C stops it",
                  flush=True)
            while not stop.wait(0.5):
                if pg.pid is None:
                    print("postgres exited unexpectedly")
                    return 2
            if args.keep:
                print(f"data kept in {pg.base_dir}")
            return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
