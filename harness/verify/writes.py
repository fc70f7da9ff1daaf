"""Write accounting as Jepsen's set checker does it.

Every write carries a key. From requests.csv (every attempt is a row) each key lands
in one class: acknowledged ``K`` (some attempt got a 2xx, ``ack=1``), definitely failed
``F`` (every attempt got a 4xx that committed nothing) or unknown (a timeout, a reset,
a 5xx: it may or may not have committed). ``A`` is every attempted key. The final read
``R`` (final_read.json, taken after every fault healed) is compared with them::

    lost       = K - R              acknowledged and absent             -> fail
    unexpected = R - A              read back, never attempted          -> fail
    duplicated = {k in R: rows > 1} more than one row for one key       -> fail
    phantom    = R & F              a definite failure that committed   -> fail
    recovered  = (R & A) - K - F    unknown outcome that landed         -> reported only

No final read (the file missing or ``ok: false``) makes the verdict ``unknown``, never
a pass: absence of evidence is not evidence of safety.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["EXAMPLES", "WriteLedger", "account_writes", "describe_keys"]

#: How many keys of each class the evidence lists.
EXAMPLES = 10

_ACK = 1
_UNKNOWN = 2
_DEFINITE = 4


def is_definite_failure(status: int, ack: bool) -> bool:
    """A 4xx without ack committed nothing (400, 404, 409, 422, ...); 408 may have."""
    return not ack and 400 <= status < 500 and status != 408


@dataclass
class WriteLedger:
    """Per-key outcome flags, fed one attempt at a time while requests.csv streams by.

    One small int per key (insertion order = first-attempt order), so a million
    attempts cost a dict, not a list of rows.
    """

    flags: dict[str, int] = field(default_factory=dict)

    def add(self, key: str, status: int, ack: bool) -> None:
        """Record one attempt of ``key``."""
        if ack:
            bit = _ACK
        elif is_definite_failure(status, ack):
            bit = _DEFINITE
        else:
            bit = _UNKNOWN
        self.flags[key] = self.flags.get(key, 0) | bit

    def classes(self) -> tuple[set[str], set[str], set[str]]:
        """(A attempted, K acknowledged, F definitely failed)."""
        attempted = set(self.flags)
        acked = {k for k, f in self.flags.items() if f & _ACK}
        failed = {k for k, f in self.flags.items() if f == _DEFINITE}
        return attempted, acked, failed


def _final_rows(final: dict[str, Any] | None) -> tuple[dict[str, int] | None, str | None]:
    """The final read's {key: rows}, or (None, why there is none)."""
    if final is None:
        return None, "final_read.json is missing"
    if not final.get("ok"):
        return None, f"final read failed: {final.get('error') or 'ok is false'}"
    rows = final.get("rows")
    if not isinstance(rows, dict):
        return None, "final_read.json has no rows object"
    out: dict[str, int] = {}
    for key, count in rows.items():
        if key is None or key == "":
            continue
        out[str(key)] = int(count)
    return out, None


def _first(keys: Iterable[str], limit: int = EXAMPLES) -> list[str]:
    out: list[str] = []
    for k in keys:
        if len(out) >= limit:
            break
        out.append(k)
    return out


def account_writes(ledger: WriteLedger, final: dict[str, Any] | None) -> dict[str, Any]:
    """The ``writes`` section of result.json: counts per class, verdict, first keys of each."""
    attempted, acked, failed = ledger.classes()
    rows, why_none = _final_rows(final)
    result: dict[str, Any] = {
        "attempted": len(attempted), "acknowledged": len(acked), "failed": len(failed),
    }
    if rows is None:
        result.update({
            "read": None, "lost": None, "unexpected": None, "duplicated": None,
            "phantom": None, "recovered": None, "indeterminate": None,
            "verdict": "unknown", "reason": why_none, "examples": {},
        })
        return result
    read = {k for k, n in rows.items() if n >= 1}
    order = list(ledger.flags)  # first-attempt order for keys we attempted
    lost = [k for k in order if k in acked and k not in read]
    phantom = [k for k in order if k in failed and k in read]
    recovered = [k for k in order if k in read and k not in acked and k not in failed]
    indeterminate = [k for k in order if k not in read and k not in acked and k not in failed]
    unexpected = sorted(k for k in read if k not in attempted)
    duplicated = sorted(k for k, n in rows.items() if n > 1)
    bad = bool(lost or phantom or unexpected or duplicated)
    result.update({
        "read": len(read), "lost": len(lost), "unexpected": len(unexpected),
        "duplicated": len(duplicated), "phantom": len(phantom), "recovered": len(recovered),
        "indeterminate": len(indeterminate),
        "verdict": "fail" if bad else "pass", "reason": None,
        "examples": {
            "lost": _first(lost), "duplicated": _first(duplicated),
            "unexpected": _first(unexpected), "phantom": _first(phantom),
            "recovered": _first(recovered),
        },
        "duplicate_rows": {k: rows[k] for k in _first(duplicated)},
        "final_read": {k: final.get(k) for k in ("t_s", "reads", "agreed", "sql")}
        if final else {},
    })
    return result


def describe_keys(csv_path: Path, keys: Iterable[str], limit: int = 5) -> dict[str, list[dict]]:
    """Every recorded attempt (up to ``limit`` each) of a few keys: the evidence of a lost key.

    A second, bounded pass over requests.csv, run only when there is something to show.
    """
    wanted = set(keys)
    found: dict[str, list[dict]] = {k: [] for k in wanted}
    if not wanted:
        return found
    with csv_path.open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            key = row.get("write_key") or ""
            if key in wanted and len(found[key]) < limit:
                found[key].append({
                    "t_s": float(row["t_s"]), "status": int(row["status"] or 0),
                    "ack": row.get("ack") == "1", "attempt": int(row.get("attempt") or 1),
                    "latency_ms": float(row["latency_ms"] or 0), "error": row.get("error") or "",
                })
    return found
