"""The exit code of ``chaosharness run`` and ``verify`` from a result.json dict.

The codes themselves are :mod:`harness.exitcodes`. Kept free of other imports so
``harness.verify`` can be imported from anywhere (the scenario loader imports the
catalogue through this package) without an import cycle.
"""

from __future__ import annotations

from harness import exitcodes

__all__ = ["exit_code_for"]


def exit_code_for(result: dict[str, object]) -> int:
    """0 when every verdict is what the scenario expects, 1 when not, 2 when the run could not
    be carried out (run.json status ``failed``, ``incomplete``, or still ``running``: the
    conductor died before finishing; or an error recorded)."""
    if result.get("run_status") in ("failed", "incomplete", "running") or result.get("error"):
        return exitcodes.COULD_NOT_RUN
    return exitcodes.OK if result.get("as_expected") else exitcodes.VERDICT
