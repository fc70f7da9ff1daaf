"""Count unhandled errors in an app's log, independently of the app's own error boundary.

The naive profile has no boundary, so its errors only show up as raw Python
tracebacks on stderr (uvicorn's ``Exception in ASGI application``, asyncio's
``Task exception was never retrieved``, ``Exception in thread ...``). The
resilient profile logs structured JSON lines with ``"event": "unhandled_error"``.
Both are counted:

- a JSON object line whose ``event`` is ``unhandled_error`` counts 1; nothing
  inside a JSON line is ever read as a raw traceback;
- a raw traceback counts 1 at its header line (``Traceback (most recent call
  last):`` or ``Exception Group Traceback ...`` at the start of the line, not
  inside an exception group's ``|`` frame);
- a chained traceback counts once: a header whose previous non-blank line is
  ``The above exception was the direct cause ...`` or ``During handling of the
  above exception ...`` continues the error before it.

:class:`StderrScanner` reads logs incrementally (each tick reads only what was
appended, complete lines only) and keeps counting across app restarts, whether
the restarted app appends to the same log or writes a new one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["LineCounter", "StderrScanner", "scan_stderr"]

_TRACEBACK_HEADERS = (
    "Traceback (most recent call last):",
    "Exception Group Traceback (most recent call last):",
)
_GROUP_HEADER = "+ Exception Group Traceback (most recent call last):"
_CHAIN_MARKERS = (
    "The above exception was the direct cause of the following exception:",
    "During handling of the above exception, another exception occurred:",
)
_READ_CHUNK = 1 << 20


def _is_unhandled_json(line: str) -> bool | None:
    """True/False for a JSON object line (is it an unhandled-error event); None if not JSON."""
    if not line.startswith("{"):
        return None
    try:
        obj = json.loads(line)
    except ValueError:
        return None
    if not isinstance(obj, dict):
        return None
    return obj.get("event") == "unhandled_error"


def _is_traceback_header(line: str) -> bool:
    """A raw traceback header: at column 0, or an exception group's top ``+`` header.

    An indented ``Traceback`` is quoted text, and one behind ``|`` is a sub-exception
    inside an exception group that its group's header already counted.
    """
    if line.startswith(_TRACEBACK_HEADERS):
        return True
    return line.lstrip(" ").startswith(_GROUP_HEADER)


@dataclass
class LineCounter:
    """Counts unhandled errors line by line; keeps the state a chained traceback needs."""

    count: int = 0
    _after_chain_marker: bool = field(default=False, init=False, repr=False)

    def feed(self, line: str) -> None:
        """Account for one line (without its newline)."""
        text = line.rstrip("\r")
        if not text.strip():
            return  # blank lines separate chained tracebacks; they change nothing
        structured = _is_unhandled_json(text)
        if structured is not None:
            self.count += int(structured)
            self._after_chain_marker = False
            return
        if _is_traceback_header(text):
            if not self._after_chain_marker:
                self.count += 1
            self._after_chain_marker = False
            return
        self._after_chain_marker = text.strip() in _CHAIN_MARKERS


@dataclass
class _FileState:
    offset: int = 0
    counter: LineCounter = field(default_factory=LineCounter)


class StderrScanner:
    """Incremental, cumulative count of unhandled errors over one or more log files."""

    def __init__(self) -> None:
        self._files: dict[Path, _FileState] = {}

    @property
    def total(self) -> int:
        """Errors counted so far over every file seen."""
        return sum(state.counter.count for state in self._files.values())

    @property
    def total_or_none(self) -> int | None:
        """The total, or ``None`` before any file was scanned (no log known yet)."""
        return self.total if self._files else None

    def scan(self, path: Path, *, final: bool = False) -> int:
        """Read what was appended to ``path`` since the last scan; return the cumulative total.

        Only complete lines are consumed, unless ``final`` (the writer has exited):
        then an unterminated last line counts too. A file that shrank (truncated or
        replaced) is re-read from its start and its earlier count dropped. Raises
        ``OSError`` when the file cannot be read (the caller records a missing sample).
        """
        state = self._files.setdefault(Path(path), _FileState())
        with Path(path).open("rb") as fh:
            size = fh.seek(0, 2)
            if size < state.offset:
                state.offset, state.counter = 0, LineCounter()
            fh.seek(state.offset)
            while data := fh.read(_READ_CHUNK):
                end = data.rfind(b"\n")
                if end < 0 and len(data) < _READ_CHUNK and not final:
                    break  # an unfinished last line: wait for its newline
                if end < 0 or (final and len(data) < _READ_CHUNK):
                    end = len(data) - 1  # a huge line, or the file's last line
                for raw in data[: end + 1].splitlines():
                    state.counter.feed(raw.decode("utf-8", "replace"))
                state.offset += end + 1
                fh.seek(state.offset)
        return self.total


def scan_stderr(path: Path) -> int:
    """Count the unhandled errors in the finished app log at ``path`` (see the module docstring).

    Raises ``OSError`` when the file cannot be read.
    """
    return StderrScanner().scan(path, final=True)
