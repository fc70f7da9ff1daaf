"""A child's output, redacted line by line on its way into the child's log.

A child does not write its log itself: its stdout and stderr are a pipe, and a
:class:`LogPump` thread in the conductor reads it a line at a time, passes the line
through :func:`harness.redact.redact` (the run's registered secrets, DSN passwords,
``NAME=secret`` pairs, ...) and appends it to ``<log_dir>/<name>.log`` (0600). A
service that prints its DSN at start-up leaves ``postgresql://user:***@host`` there.

Bytes that are not UTF-8 pass through unchanged (``surrogateescape``). A line longer
than :data:`MAX_LINE` bytes is handled in pieces of that size (a secret cut in two by
such a split can escape the literal search: a log line of a megabyte is not a DSN).
The pump ends at end-of-file, i.e. when the child and every process that inherited
its output have exited.

The cost: about 30 us of redaction per line in the conductor (the reference app writes
a few hundred lines a run), and a child whose conductor stopped reading blocks once the
pipe's 64 KiB are full; a SIGKILLed conductor's children get EPIPE until its watchdog
ends them, within seconds.
"""

from __future__ import annotations

import contextlib
import os
import threading
from typing import BinaryIO

from harness.redact import redact

__all__ = ["MAX_LINE", "LogPump"]

MAX_LINE = 1024 * 1024


def _redact_line(raw: bytes) -> bytes:
    text = raw.decode("utf-8", "surrogateescape")
    return redact(text).encode("utf-8", "surrogateescape")


class LogPump:
    """Copies a pipe into a log file, a redacted line at a time, in a daemon thread."""

    def __init__(self, name: str, read_fd: int, log: BinaryIO) -> None:
        self._source = os.fdopen(read_fd, "rb")
        self._log = log
        self._thread = threading.Thread(target=self._run, name=f"log-{name}", daemon=True)

    def start(self) -> LogPump:
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            while line := self._source.readline(MAX_LINE):
                self._log.write(_redact_line(line))
                self._log.flush()  # readers (log_tail, the stderr scan) see it at once
        except (OSError, ValueError):
            pass  # the log's disk is gone or the pump was closed: the child carries on
        finally:
            with contextlib.suppress(OSError):
                self._source.close()
            with contextlib.suppress(OSError):
                self._log.close()

    def join(self, timeout: float) -> bool:
        """Wait (bounded) for the child's last line to be written; True when it was."""
        if self._thread.is_alive():
            self._thread.join(timeout)
        return not self._thread.is_alive()
