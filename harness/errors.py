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


class ScenarioError(HarnessError):
    """A scenario or suite file is invalid.

    Rendered as ``<file>: <key path>: <what was expected>``, e.g.
    ``db-restart.toml: fault[2].at: must be <= duration (30s), got 45s``.
    """

    def __init__(self, file: str, key: str, problem: str) -> None:
        self.file = file
        self.key = key
        self.problem = problem
        where = f"{file}: {key}" if key else file
        super().__init__(f"{where}: {problem}")


class FaultError(HarnessError):
    """A fault action could not be applied, or refused its parameters."""


class VerifyError(HarnessError):
    """A run directory cannot be judged: a file is missing or malformed."""


class ReportError(HarnessError):
    """A report cannot be rendered from a run directory."""
