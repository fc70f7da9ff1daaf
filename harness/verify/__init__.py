"""Verify: turn a run directory into metrics, SLO verdicts and an exit code.

Reads only the run directory's files (docs/run-directory.md) and writes ``result.json``
beside them, so ``chaosharness verify RUN_DIR`` re-judges a copied directory::

    from harness.verify import exit_code_for, verify_run
    result = verify_run(run_dir)        # also writes run_dir / "result.json"
    code = exit_code_for(result)        # 0 as expected, 1 not, 2 could not run

One module per checker: :mod:`.windows` (fault windows, shared with the report),
:mod:`.phases` (the phase split), :mod:`.availability`
(availability, error classes, recovery time, time to detect), :mod:`.latency` (exact
percentiles), :mod:`.writes` (Jepsen set accounting), :mod:`.memory` (RSS trend and
growing allocation sites), :mod:`.process` (errors, connections, pool, queue,
shutdown, startup), :mod:`.slo` and :mod:`.verdict` (SLO verdicts and expectation),
:mod:`.online` (the opt-in online lost-write checker), :mod:`.catalog` (metric names).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from harness.errors import VerifyError
from harness.verify.exitcode import exit_code_for

__all__ = ["exit_code_for", "verify_run"]


def verify_run(run_dir: Path) -> dict[str, object]:
    """Judge the run in ``run_dir``: write ``result.json`` there and return its content.

    Raises :class:`~harness.errors.VerifyError` when the directory or a file it needs is
    missing or malformed (scenario.toml above all); a run that recorded ``status:
    failed`` is still judged as far as its files go, and its exit code is 2.
    """
    from harness.verify.judge import judge_run

    root = Path(run_dir)
    if not root.is_dir():
        raise VerifyError(f"{root}: not a run directory")
    started = time.monotonic()
    record = judge_run(root)
    record.verify_seconds = round(time.monotonic() - started, 3)
    result = record.to_json()
    write_result(root / "result.json", result)
    return result


def write_result(path: Path, result: dict[str, object]) -> None:
    """Write result.json atomically (a reader never sees half a file)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(result, indent=2, sort_keys=False, allow_nan=False) + "\n",
                   encoding="utf-8")
    os.replace(tmp, path)
