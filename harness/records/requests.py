"""The columns of ``requests.csv(.gz)`` (docs/run-directory.md): declared once, here.

The recorder in the Locust process writes them, the merge keeps them, verify and the
report read them by name. Stdlib only.
"""

from __future__ import annotations

__all__ = ["REQUEST_COLUMNS"]

#: The columns of requests.csv, in the order they are written.
REQUEST_COLUMNS: tuple[str, ...] = (
    "t_s", "name", "status", "ok", "latency_ms", "error", "write_key", "ack", "attempt",
)
