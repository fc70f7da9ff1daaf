"""Exit codes of ``chaosharness run`` and ``verify`` from a result.json dict.

Kept free of other imports so ``harness.verify`` can be imported from anywhere (the
scenario loader imports the catalogue through this package) without an import cycle.
"""

from __future__ import annotations

from typing import Any

__all__ = ["EXIT_AS_EXPECTED", "EXIT_COULD_NOT_RUN", "EXIT_NOT_AS_EXPECTED", "exit_code_for"]

EXIT_AS_EXPECTED = 0
EXIT_NOT_AS_EXPECTED = 1
EXIT_COULD_NOT_RUN = 2


def exit_code_for(result: dict[str, Any]) -> int:
    """0 when every verdict is what the scenario expects, 1 when not, 2 when the run could not
    be carried out (run.json status ``failed``, ``incomplete``, or still ``running``: the
    conductor died before finishing; or an error recorded)."""
    if result.get("run_status") in ("failed", "incomplete", "running") or result.get("error"):
        return EXIT_COULD_NOT_RUN
    return EXIT_AS_EXPECTED if result.get("as_expected") else EXIT_NOT_AS_EXPECTED
