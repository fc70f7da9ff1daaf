"""The exit codes of ``chaosharness``: one table, used by the conductor, verify and the CLI.

Stdlib only and importing nothing of the harness, so any module may use it.
"""

from __future__ import annotations

from typing import Final

__all__ = ["COULD_NOT_RUN", "OK", "VERDICT"]

OK: Final = 0
"""Every verdict is what the scenario expects (a negative control failed as it should)."""

VERDICT: Final = 1
"""The run was carried out and judged, and a verdict is not what the scenario expects."""

COULD_NOT_RUN: Final = 2
"""The run could not be carried out or judged (run.json ``failed`` / ``incomplete``, a
provisioning error, an invalid scenario, a bad command line); the message says what to do."""
