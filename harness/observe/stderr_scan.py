"""Count unhandled errors in an app's log, independently of the app's own error boundary.

The app under test may run on any runtime, so the scanner knows what an
unhandled error looks like in the raw output of each common one, and takes
extra regular expressions for anything else. Every built-in detector counts one
error per occurrence, at one line of it, never one per line of a multi-line
trace; a built-in matches at the start of a line only (indented text is quoted
text, or a frame of a trace already counted), except net/http's line below.

Python (the naive profile has no boundary, so its errors only show up as raw
tracebacks: uvicorn's ``Exception in ASGI application``, asyncio's ``Task
exception was never retrieved``, ``Exception in thread ...``; the resilient
profile logs structured JSON lines):

- a JSON object line whose ``event`` is ``unhandled_error`` counts 1; nothing
  inside a JSON line is ever read as a raw traceback (or as any other built-in);
- a raw traceback counts 1 at its header line (``Traceback (most recent call
  last):`` or ``Exception Group Traceback ...`` at the start of the line, not
  inside an exception group's ``|`` frame). A traceback merely logged (e.g. by
  ``logging.exception``) counts too: in Python's output it is the only trace;
- a chained traceback counts once: a header whose previous non-blank line is
  ``The above exception was the direct cause ...`` or ``During handling of the
  above exception ...`` continues the error before it.

Node.js (checked against node 20's real output):

- an uncaught exception, or an unhandled promise rejection in node's default
  ``throw`` mode, kills the process; node ends that report with one footer line
  ``Node.js v20.11.1`` (the source line, caret, ``Error: x``, the stack, any
  ``[cause]``/``[errors]`` are all above it), so the footer counts 1;
- ``--unhandled-rejections=warn``: each rejection prints two
  ``(node:PID) UnhandledPromiseRejectionWarning:`` lines (the reason, then
  ``Unhandled promise rejection. ... (rejection id: N)``); the second counts 1.
  A later ``PromiseRejectionHandledWarning`` is not subtracted (counts only grow);
- a V8 fatal error (``FATAL ERROR: Reached heap limit ... JavaScript heap out of
  memory``) counts 1;
- an error merely printed (``console.error(err)``, Express's default handler)
  is a handled error: its ``Error: x`` + ``at`` lines are not counted.

Go:

- ``panic: ...`` (an unrecovered panic; ``goroutine N [running]:`` and the
  stacks follow, or nothing with ``GOTRACEBACK=none``) counts 1; a re-panic's
  indented ``panic: ...`` line is part of it;
- ``fatal error: ...`` (a runtime throw: deadlock, concurrent map writes, out
  of memory) counts 1;
- net/http's ``http: panic serving ADDR: ...`` (a handler panic the server
  recovered, the Go peer of uvicorn's ``Exception in ASGI application``) counts
  1 wherever it is in the line, after any log prefix.

JVM (Java, Kotlin, Scala):

- ``Exception in thread "NAME" java.lang.X: ...`` (the default uncaught
  exception handler, for ``main`` or any thread) counts 1; its indented ``at`` frames,
  ``Caused by:`` and ``Suppressed:`` sections are part of it;
- ``Exception: X thrown from the UncaughtExceptionHandler in thread "NAME"``
  counts 1. ``printStackTrace()`` of a caught exception is not counted.

Rust:

- ``thread 'NAME' panicked at FILE:L:C:`` (also with the thread id
  newer releases print, ``thread 'main' (1234) panicked at``, and the older
  ``panicked at 'msg', FILE``) counts 1, in ``main`` or in any thread.

User patterns: a target's ``unhandled_error_patterns`` are regular expressions
(validated by :func:`compile_patterns`); a line any of them matches
(``re.search``) counts 1, unless a built-in detector already counted that line.
They see every non-blank line, JSON lines included.

:class:`StderrScanner` reads logs incrementally (each tick reads only what was
appended, complete lines only) and keeps counting across app restarts, whether
the restarted app appends to the same log or writes a new one. Most lines cost
one ``str.startswith`` with a tuple of prefixes before any regex runs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["LineCounter", "StderrScanner", "compile_patterns", "scan_stderr"]

_TRACEBACK_HEADERS = (
    "Traceback (most recent call last):",
    "Exception Group Traceback (most recent call last):",
)
_GROUP_HEADER = "+ Exception Group Traceback (most recent call last):"
_CHAIN_MARKERS = (
    "The above exception was the direct cause of the following exception:",
    "During handling of the above exception, another exception occurred:",
)
_UNHANDLED_EVENT = "unhandled_error"

# The other runtimes' headers, all at the start of a line: ``str.startswith`` with
# these prefixes is the cheap prefilter, then _RUNTIME_HEADER confirms the shape.
_RUNTIME_PREFIXES = (
    "Node.js v",
    "(node:",
    "FATAL ERROR: ",
    "panic: ",
    "fatal error: ",
    'Exception in thread "',
    "Exception: ",
    "thread '",
)
_RUNTIME_HEADER = re.compile(
    r"""
      Node\.js\ v\d+\.\d+\.\d+\s*$                              # node: crash footer
    | \(node:\d+\)\ UnhandledPromiseRejectionWarning:\ Unhandled\ promise\ rejection\.
      .*\(rejection\ id:\ \d+\)\s*$                             # node: warn-mode rejection
    | FATAL\ ERROR:\ \S                                         # node: V8 fatal (heap OOM)
    | panic:\                                                   # go: unrecovered panic
    | fatal\ error:\ \S                                         # go: runtime throw
    | Exception\ in\ thread\ "[^"]*"\ \S                        # jvm: uncaught exception
    | Exception:\ \S+\ thrown\ from\ the\ UncaughtExceptionHandler\ in\ thread\ "
    | thread\ '[^']*'(?:\ \(\d+\))?\ panicked\ at\ \S           # rust: panic
    """,
    re.VERBOSE,
)
# Recovered by Go's net/http server and logged after the log package's prefix.
_GO_HTTP_PANIC = "http: panic serving "
_READ_CHUNK = 1 << 20


def compile_patterns(patterns: Sequence[str]) -> tuple[re.Pattern[str], ...]:
    """Compile a target's ``unhandled_error_patterns``; raise ``ValueError`` on a bad one.

    Each pattern is a Python regular expression searched in every log line. The
    error names the pattern and why: not a string, not a valid regex (with
    ``re``'s message), or one that matches the empty string (it would count
    every line). A bare string instead of a list is refused too.
    """
    if isinstance(patterns, str | bytes):
        raise ValueError(
            f"unhandled_error_patterns must be a list of regular expressions, "
            f"not a single string: {patterns!r}"
        )
    compiled: list[re.Pattern[str]] = []
    for pattern in patterns:
        if not isinstance(pattern, str):
            raise ValueError(
                f"unhandled_error_patterns: {pattern!r} is not a string "
                f"(a regular expression is expected)"
            )
        try:
            regex = re.compile(pattern)
        except re.error as exc:
            raise ValueError(
                f"unhandled_error_patterns: {pattern!r} is not a valid regular "
                f"expression: {exc}"
            ) from exc
        if regex.search("") is not None:
            raise ValueError(
                f"unhandled_error_patterns: {pattern!r} matches the empty string, "
                f"so it would count every line"
            )
        compiled.append(regex)
    return tuple(compiled)


def _is_unhandled_json(line: str) -> bool | None:
    """True/False for a JSON object line (is it an unhandled-error event); None if not JSON."""
    if not line.startswith("{"):
        return None
    if _UNHANDLED_EVENT not in line:
        return False  # an object line, whatever it is: no need to parse it to know
    try:
        obj = json.loads(line)
    except ValueError:
        return None
    if not isinstance(obj, dict):
        return None
    return obj.get("event") == _UNHANDLED_EVENT


def _is_traceback_header(line: str) -> bool:
    """A raw traceback header: at column 0, or an exception group's top ``+`` header.

    An indented ``Traceback`` is quoted text, and one behind ``|`` is a sub-exception
    inside an exception group that its group's header already counted.
    """
    if line.startswith(_TRACEBACK_HEADERS):
        return True
    return line.lstrip(" ").startswith(_GROUP_HEADER)


def _is_runtime_header(line: str) -> bool:
    """The one line that counts a Node.js, Go, JVM or Rust error (see the module docstring)."""
    if line.startswith(_RUNTIME_PREFIXES) and _RUNTIME_HEADER.match(line):
        return True
    return _GO_HTTP_PANIC in line


@dataclass
class LineCounter:
    """Counts unhandled errors line by line; keeps the state a chained traceback needs.

    ``patterns`` are the compiled user patterns (:func:`compile_patterns`).
    """

    count: int = 0
    patterns: tuple[re.Pattern[str], ...] = ()
    _after_chain_marker: bool = field(default=False, init=False, repr=False)

    def feed(self, line: str) -> None:
        """Account for one line (without its newline)."""
        text = line.rstrip("\r")
        if not text.strip():
            return  # blank lines separate chained tracebacks; they change nothing
        if self._builtin(text) or (self.patterns and any(p.search(text) for p in self.patterns)):
            self.count += 1

    def _builtin(self, text: str) -> bool:
        """Whether a built-in detector counts this (non-blank) line."""
        structured = _is_unhandled_json(text)
        if structured is not None:
            self._after_chain_marker = False
            return structured
        if _is_traceback_header(text):
            counted = not self._after_chain_marker
            self._after_chain_marker = False
            return counted
        self._after_chain_marker = text.strip() in _CHAIN_MARKERS
        return _is_runtime_header(text)


@dataclass
class _FileState:
    counter: LineCounter
    offset: int = 0


class StderrScanner:
    """Incremental, cumulative count of unhandled errors over one or more log files.

    ``unhandled_error_patterns``: the target's extra regular expressions (a line
    matching any counts 1); validated by :func:`compile_patterns`, so a bad one
    raises ``ValueError`` here.
    """

    def __init__(self, *, unhandled_error_patterns: Sequence[str] = ()) -> None:
        self._patterns = compile_patterns(unhandled_error_patterns)
        self._files: dict[Path, _FileState] = {}

    @property
    def total(self) -> int:
        """Errors counted so far over every file seen."""
        return sum(state.counter.count for state in self._files.values())

    @property
    def total_or_none(self) -> int | None:
        """The total, or ``None`` before any file was scanned (no log known yet)."""
        return self.total if self._files else None

    def _new_counter(self) -> LineCounter:
        return LineCounter(patterns=self._patterns)

    def scan(self, path: Path, *, final: bool = False) -> int:
        """Read what was appended to ``path`` since the last scan; return the cumulative total.

        Only complete lines are consumed, unless ``final`` (the writer has exited):
        then an unterminated last line counts too. A file that shrank (truncated or
        replaced) is re-read from its start and its earlier count dropped. Raises
        ``OSError`` when the file cannot be read (the caller records a missing sample).
        """
        key = Path(path)
        state = self._files.get(key)
        if state is None:
            state = self._files[key] = _FileState(self._new_counter())
        with key.open("rb") as fh:
            size = fh.seek(0, 2)
            if size < state.offset:
                state.offset, state.counter = 0, self._new_counter()
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


def scan_stderr(path: Path, *, unhandled_error_patterns: Sequence[str] = ()) -> int:
    """Count the unhandled errors in the finished app log at ``path`` (see the module docstring).

    ``unhandled_error_patterns`` as for :class:`StderrScanner`. Raises ``OSError``
    when the file cannot be read, ``ValueError`` for a bad pattern.
    """
    return StderrScanner(unhandled_error_patterns=unhandled_error_patterns).scan(path, final=True)
