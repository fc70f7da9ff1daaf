"""Collect: after the load and every fault are over, read back what the app wrote.

The written keys are read straight from Postgres (never through the proxy) with
the scenario's SQL, until two consecutive reads agree, and written to
``final_read.json`` (docs/run-directory.md). No agreeing read means ``ok: false``:
write accounting is then ``unknown``, never a pass.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import asyncpg

from harness.provision.pg_probe import fetch
from harness.records import FinalReadRecord

__all__ = ["final_read"]


def _read(dsn: str, sql: str) -> dict[str, int]:
    rows = fetch(dsn, sql, timeout=30.0)
    out: dict[str, int] = {}
    for row in rows:
        key = row[0]
        if key is None:
            continue
        out[str(key)] = out.get(str(key), 0) + (int(row[1]) if len(row) > 1 else 1)
    return out


def final_read(dsn: str, sql: str, out: Path, t0: float, *, attempts: int = 6,
               pause_s: float = 0.5) -> FinalReadRecord:
    """Read keys until two consecutive reads agree; write final_read.json and return it."""
    previous: dict[str, int] | None = None
    errors: list[str] = []
    result = FinalReadRecord(sql=sql)
    for _ in range(attempts):
        try:
            current = _read(dsn, sql)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
            time.sleep(pause_s)
            continue
        result.reads += 1
        if previous is not None and current == previous:
            result.ok, result.agreed, result.rows = True, True, current
            break
        previous = current
        time.sleep(pause_s)
    else:
        if previous is not None:
            result.error = ("reads did not agree: " + "; ".join(errors[-3:]) if errors
                            else "two consecutive reads never agreed")
            result.rows = previous
        else:
            result.error = "no read succeeded: " + "; ".join(errors[-3:])
    result.t_s = round(time.monotonic() - t0, 6)
    out.write_text(json.dumps(result.to_json()) + "\n")
    return result
