"""What the observer watches: one app (by URL and pid), one Postgres (by pid and DSN), and
the fault proxy in between (by pid), through which the app's connections are counted."""

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
    - ``proxy_pid`` / ``proxy_upstream``: the fault proxy's pid (``None`` while
      unknown, e.g. a proxy reached by URL) and the ``host:port`` it forwards to
      (Postgres). With both, ``pg_connections.app`` counts the backends whose client
      end is one of the proxy's sockets to Postgres (``app_by: "proxy"``): every
      connection of the app, whatever it calls itself, and none of anyone else's.
    - ``app_name``: only the fallback for when no proxy pid is known: the
      ``application_name`` the app's connections use (``app_by:
      "application_name"``), counted only when some connection has it; otherwise
      ``pg_connections.app`` is ``null`` (unknown), never 0.
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
    proxy_pid: Callable[[], int | None] | None = None
    proxy_upstream: str | None = None

    def __repr__(self) -> str:
        # the token and a DSN password must not end up in a log through a repr
        return (
            f"ObserveTargets(app_url={self.app_url!r}, pg_dsn={'set' if self.pg_dsn else None}, "
            f"chaos_hooks={self.chaos_hooks}, app_name={self.app_name!r}, "
            f"proxy_upstream={self.proxy_upstream!r})"
        )
