"""Wall-clock time for people. Every duration and timeout uses ``time.monotonic()``;
wall time is only written beside it, for whoever reads the files."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["wall"]


def wall() -> str:
    """Now, as ISO-8601 UTC with milliseconds (``2026-11-23T20:15:00.123Z``)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
