"""A parent process used by the orphan tests: it owns an embedded Postgres (or a plain
supervised child), prints the pids it owns as one JSON line, then waits to be ended.

    python tests/provision/owner.py postgres|child
"""

from __future__ import annotations

import json
import signal
import sys
import tempfile
import time
from pathlib import Path

from harness.provision.postgres import EmbeddedPostgres
from harness.provision.process import Supervisor, process_tree


def _wait_forever_or_exit(mode: str) -> None:
    if mode == "exit":
        sys.stdin.readline()  # the test says when to exit normally
        return
    # SIGTERM ends the process through the normal path (finally blocks, context managers).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        time.sleep(0.1)


def main() -> int:
    what, mode = sys.argv[1], sys.argv[2]
    logs = Path(tempfile.mkdtemp(prefix="owner-logs-"))
    if what == "postgres":
        with EmbeddedPostgres(log_dir=logs, fsync=False) as pg:
            assert pg.pid is not None
            print(json.dumps({"pids": process_tree(pg.pid), "base": str(pg.base_dir)}), flush=True)
            _wait_forever_or_exit(mode)
    else:
        with Supervisor(logs) as sup:
            child = sup.spawn("sleeper", ["sh", "-c", "sleep 60 & sleep 60; wait"])
            time.sleep(0.3)
            print(json.dumps({"pids": process_tree(child.pid)}), flush=True)
            _wait_forever_or_exit(mode)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
