"""observe stage: samplers that watch the app, its process and Postgres during a run.

Writes ``samples.jsonl`` (one line per tick) and ``memory/`` (tracemalloc diffs)
in the run directory; formats in docs/run-directory.md.

    targets = ObserveTargets(app_url, app_pid, pg_pid, pg_dsn, admin_token, app_log, chaos_hooks,
                             proxy_pid=proxy_pid, proxy_upstream="127.0.0.1:5432")
    obs = Observer(run_dir, targets, t0_monotonic=t0, tick_s=1.0, memory_every_s=10.0)
    obs.start(); ...; obs.baseline_memory(); ...; obs.stop(timeout_s=5)
"""

from harness.observe.observer import Observer
from harness.observe.stderr_scan import StderrScanner, scan_stderr
from harness.observe.targets import ObserveTargets

__all__ = ["ObserveTargets", "Observer", "StderrScanner", "scan_stderr"]
