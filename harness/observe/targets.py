"""What the observer watches: one app (by URL and pid) and one Postgres (by pid and DSN)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ObserveTargets"]


@dataclass(frozen=True)
class ObserveTargets:
    """The things each tick samples.

    The callables are re-read every tick, because the app and Postgres restart
    during a run and come back with new pids (and perhaps a new log file).

    - ``app_url``: base URL of the app (``http://127.0.0.1:PORT``); its
      probes (``live_path`` .. ``stats_path``) are polled.
    - ``app_pid`` / ``pg_pid``: the app's pid and the Postgres postmaster's pid,
      or ``None`` while there is none (then that process sample is ``null``).
    - ``pg_dsn``: a DSN straight to Postgres (never through the fault proxy, so
      network faults do not blind the observer); ``None`` skips pg_stat_activity.
    - ``admin_token``: bearer token for the chaos hooks (never written anywhere).
    - ``app_log``: the app's stdout+stderr log, scanned for unhandled errors.
    - ``chaos_hooks``: whether ``/api/chaos/memory/snapshot`` exists; without it
      no memory diffs are taken.
    - ``app_name``: the ``application_name`` the app's Postgres connections use,
      counted as ``pg_connections.app``.
    - ``live_path`` / ``ready_path`` / ``stats_path``: the target's probes, each ``""``
      when it has none (never asked; its fields stay ``null``).
    - ``unhandled_error_patterns``: the target's own regexes for the log scan.
    """

    app_url: str
    app_pid: Callable[[], int | None]
    pg_pid: Callable[[], int | None]
    pg_dsn: str | None
    admin_token: str | None
    app_log: Callable[[], Path | None]
    chaos_hooks: bool
    app_name: str = "reference_impl"
    live_path: str = "/health"
    ready_path: str = "/health/ready"
    stats_path: str = "/api/monitoring/stats"
    unhandled_error_patterns: tuple[str, ...] = ()

    def __repr__(self) -> str:
        # the token and a DSN password must not end up in a log through a repr
        return (
            f"ObserveTargets(app_url={self.app_url!r}, pg_dsn={'set' if self.pg_dsn else None}, "
            f"chaos_hooks={self.chaos_hooks}, app_name={self.app_name!r})"
        )
