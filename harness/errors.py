"""The harness' exception tree.

Every error the harness raises on purpose derives from :class:`HarnessError`
and names the thing that failed together with the evidence::

    HarnessError
    ├── ProvisionError      a child process could not be started, became not ready, or exited badly
    │                       (command, exit code, tail of its output)
    ├── ScenarioError       a scenario or suite file is invalid (file, key path, what was expected)
    ├── FaultError          a fault action could not be applied or refused its parameters
    ├── VerifyError         a run directory cannot be judged (which file, what is wrong)
    └── ReportError         a report cannot be rendered (which file, what is wrong)

Only ``harness.cli`` turns these into exit codes (0 pass, 1 verdict failed, 2 could not run).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

__all__ = [
    "FaultError",
    "HarnessError",
    "ProvisionError",
    "ReportError",
    "ScenarioError",
    "VerifyError",
]


class HarnessError(Exception):
    """Root of every error the harness raises on purpose."""


class ProvisionError(HarnessError):
    """A child process could not be started, did not become ready, or failed.

    Carries the command line, the exit code (``None`` while it still runs or when
    it never started) and the tail of its output, so the message alone says what
    to look at.
    """

    def __init__(
        self,
        message: str,
        *,
        command: Sequence[str] | None = None,
        exit_code: int | None = None,
        output_tail: str = "",
    ) -> None:
        self.message = message
        self.command = list(command) if command is not None else None
        self.exit_code = exit_code
        self.output_tail = output_tail
        super().__init__(self._render())

    def _render(self) -> str:
        parts = [self.message]
        if self.command:
            parts.append(f"command: {' '.join(self.command)}")
        if self.exit_code is not None:
            parts.append(f"exit code: {self.exit_code}")
        if self.output_tail:
            tail = self.output_tail.rstrip()
            parts.append("output (last lines):\n" + tail)
        return "\n".join(parts)


#: Longest key path and problem text a ScenarioError keeps (the rest is cut, and said so).
_KEY_LIMIT = 200
_PROBLEM_LIMIT = 2000


def _one_line(text: str, limit: int) -> str:
    """``text`` on one line (control and line-break characters escaped), at most about
    ``limit`` characters: a key or value from a hostile file cannot forge or flood lines."""
    out = "".join(ch if unicodedata.category(ch)[0] not in "CZ" or ch == " "
                  else ch.encode("unicode_escape").decode("ascii")
                  for ch in text[:limit + 1])
    if len(text) > limit:
        out = out[:limit] + f"... ({len(text)} characters)"
    return out


class ScenarioError(HarnessError):
    """A scenario or suite file is invalid.

    Rendered as ``<file>: <key path>: <what was expected>``, e.g.
    ``db-restart.toml: fault[2].at: must be <= duration (30s), got 45s``; always one
    line, the key path and the problem of bounded length (they may quote the file).
    """

    def __init__(self, file: str, key: str, problem: str) -> None:
        self.file = file
        self.key = _one_line(key, _KEY_LIMIT)
        self.problem = _one_line(problem, _PROBLEM_LIMIT)
        key, problem = self.key, self.problem
        where = f"{file}: {key}" if key else file
        super().__init__(f"{where}: {problem}")


class FaultError(HarnessError):
    """A fault action could not be applied, or refused its parameters."""


class VerifyError(HarnessError):
    """A run directory cannot be judged: a file is missing or malformed."""


class ReportError(HarnessError):
    """A report cannot be rendered from a run directory."""
