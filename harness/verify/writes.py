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

A Locust worker lost mid-run (a ``worker_lost`` timeline line: killed, partitioned) may
have sent writes whose rows never reached the master. The rule for its keys (found by
the worker index in ``k<seed>-<worker>-<user>-<n>``):

* a key with rows is classed by them as any other: an acknowledged attempt that arrived
  is acknowledged (and lost if absent); one whose last arrived attempt got no answer is
  unknown outcome (recovered if it landed), never lost;
* a key with **no row at all** that is read back is not counted: it is neither attempted
  nor unexpected (the worker cannot have been anything but its sender), but
  ``unrecorded`` (reported with examples, not a failure). A key read back that belongs to
  no lost worker is still ``unexpected``.
"""

from __future__ import annotations

import csv
import operator
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import compress, repeat
from pathlib import Path
from typing import Any

__all__ = ["EXAMPLES", "WriteLedger", "account_writes", "describe_keys"]

#: How many keys of each class the evidence lists.
EXAMPLES = 10


def is_definite_failure(status: int, ack: bool) -> bool:
    """A 4xx without ack committed nothing (400, 404, 409, 422, ...); 408 may have."""
    return not ack and 400 <= status < 500 and status != 408


#: Status texts of a definite failure (when not acknowledged), for the columnar path.
DEFINITE_STATUS_TEXT = frozenset(str(c) for c in range(400, 500) if c != 408)


@dataclass
class WriteLedger:
    """Which keys were attempted, acknowledged, definitely failed or of unknown outcome.

    Fed while requests.csv streams by, one attempt (:meth:`add`) or one chunk of
    columns (:meth:`add_columns`, set operations in C) at a time. ``order`` keeps the
    first-attempt order of keys for the evidence; sets hold string references only.
    """

    order: dict[str, None] = field(default_factory=dict)
    acked: set[str] = field(default_factory=set)
    definite: set[str] = field(default_factory=set)
    unknown: set[str] = field(default_factory=set)

    def add(self, key: str, status: int, ack: bool) -> None:
        """Record one attempt of ``key``."""
        self.order.setdefault(key, None)
        if ack:
            self.acked.add(key)
        elif is_definite_failure(status, ack):
            self.definite.add(key)
        else:
            self.unknown.add(key)

    def add_columns(
        self, keys: Sequence[str], statuses: Sequence[str], acks: Sequence[str]
    ) -> None:
        """Record a chunk of attempts given as CSV text columns (rows without a key skipped)."""
        has_key = list(map(bool, keys))
        if not any(has_key):
            return
        self.order.update(dict.fromkeys(compress(keys, has_key)))
        is_ack = list(map(operator.eq, acks, repeat("1")))
        self.acked.update(compress(keys, map(operator.and_, has_key, is_ack)))
        not_ack = [h and not a for h, a in zip(has_key, is_ack, strict=True)]
        is_def = list(map(DEFINITE_STATUS_TEXT.__contains__, statuses))
        self.definite.update(compress(keys, map(operator.and_, not_ack, is_def)))
        self.unknown.update(compress(keys, map(operator.gt, not_ack, is_def)))

    def classes(self) -> tuple[dict[str, None], set[str], set[str]]:
        """(A attempted, in first-attempt order; K acknowledged; F definitely failed)."""
        failed = self.definite - self.acked - self.unknown
        return self.order, self.acked, failed


def _final_rows(final: dict[str, Any] | None) -> tuple[dict[str, int] | None, str | None]:
    """The final read's {key: rows}, or (None, why there is none)."""
    if final is None:
        return None, "final_read.json is missing"
    if not final.get("ok"):
        return None, f"final read failed: {final.get('error') or 'ok is false'}"
    rows = final.get("rows")
    if not isinstance(rows, dict):
        return None, "final_read.json has no rows object"
    rows.pop("", None)  # JSON keys are strings; an empty key is no key
    if rows and min(rows.values()) < 1:
        rows = {str(k): int(n) for k, n in rows.items() if int(n) >= 1}
    return rows, None


def _position(order: dict[str, None]) -> Callable[[str], int]:
    """Sort key: a key's first-attempt position (computed only for the few keys sorted)."""
    index: dict[str, int] = {}

    def pos(key: str) -> int:
        if not index:
            index.update((k, i) for i, k in enumerate(order))
        return index.get(key, len(index))

    return pos


def _first(keys: Iterable[str], limit: int = EXAMPLES) -> list[str]:
    out: list[str] = []
    for k in keys:
        if len(out) >= limit:
            break
        out.append(k)
    return out


def lost_worker_keys(seed: object, workers: Iterable[int]) -> Callable[[str], bool] | None:
    """A test for keys a lost worker sent (``k<seed>-<worker>-...`` inside the key), or None."""
    indexes = sorted({int(w) for w in workers})
    if not indexes or seed is None:
        return None
    pattern = re.compile(rf"(?<![0-9A-Za-z])k{int(str(seed))}-(?:{'|'.join(map(str, indexes))})"
                         r"-\d+-\d+")
    return lambda key: pattern.search(key) is not None


def account_writes(ledger: WriteLedger, final: dict[str, Any] | None,
                   from_lost_worker: Callable[[str], bool] | None = None) -> dict[str, Any]:
    """The ``writes`` section of result.json: counts per class, verdict, first keys of each.
    ``from_lost_worker`` (:func:`lost_worker_keys`) names the keys whose rows may not have
    arrived; read back without a row, they are ``unrecorded``, not ``unexpected``."""
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
    read = rows  # every key in the read has at least one row
    pos = _position(attempted)
    lost = sorted(acked.difference(read), key=pos)
    phantom = sorted(failed.intersection(read), key=pos)
    unexpected = sorted(read.keys() - attempted.keys())
    unrecorded: list[str] = []
    if from_lost_worker is not None and unexpected:
        unrecorded = [k for k in unexpected if from_lost_worker(k)]
        unexpected = [k for k in unexpected if not from_lost_worker(k)]
    # |(R & A) - K - F| without building it: K and F are disjoint subsets of A
    n_recovered = len(read) - len(unexpected) - len(unrecorded) - (len(acked) - len(lost)) \
        - len(phantom)
    recovered = _first(k for k in attempted
                       if k in read and k not in acked and k not in failed) if n_recovered else []
    indeterminate = len(attempted) - len(acked) - len(failed) - n_recovered
    duplicated = sorted(k for k, n in rows.items() if n > 1) \
        if rows and max(rows.values()) > 1 else []
    bad = bool(lost or phantom or unexpected or duplicated)
    result.update({
        "read": len(read), "lost": len(lost), "unexpected": len(unexpected),
        "duplicated": len(duplicated), "phantom": len(phantom), "recovered": n_recovered,
        "indeterminate": indeterminate,
        **({"unrecorded": len(unrecorded)} if from_lost_worker is not None else {}),
        "verdict": "fail" if bad else "pass", "reason": None,
        "examples": {
            "lost": _first(lost), "duplicated": _first(duplicated),
            "unexpected": _first(unexpected), "phantom": _first(phantom),
            "recovered": _first(recovered),
            **({"unrecorded": _first(unrecorded)} if from_lost_worker is not None else {}),
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
