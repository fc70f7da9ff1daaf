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
a pass: absence of evidence is not evidence of safety. So does a request log with no write
in it (no ``write_key`` column, or no request that carried a key): with nothing attempted,
"0 lost" would be a pass judged on nothing.

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
import json
import operator
import re
import zlib
from array import array
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import accumulate, compress, islice, repeat
from pathlib import Path

import numpy as np

from harness.errors import VerifyError
from harness.records import FinalReadRecord, RecordError
from harness.records.result import WriteAccounting
from harness.requests_file import open_requests

__all__ = ["EXAMPLES", "FinalRead", "WriteLedger", "account_writes", "describe_keys",
           "final_read_rows", "load_final_read", "write_metrics"]

#: How many keys of each class the evidence lists.
EXAMPLES = 10


def is_definite_failure(status: int, ack: bool) -> bool:
    """A 4xx without ack committed nothing (400, 404, 409, 422, ...); 408 may have."""
    return not ack and 400 <= status < 500 and status != 408


#: Status texts of a definite failure (when not acknowledged), for the columnar path.
DEFINITE_STATUS_TEXT = frozenset(str(c) for c in range(400, 500) if c != 408)


_ACK, _DEFINITE, _UNKNOWN = 1, 2, 3
#: The 64-bit key hash (a module global so a test can force collisions).
_key_hash: Callable[[str], int] = hash


@dataclass
class WriteLedger:
    """Which keys were attempted, acknowledged, definitely failed or of unknown outcome.

    Fed while requests.csv streams by, one attempt (:meth:`add`) or one chunk of
    columns (:meth:`add_columns`) at a time. A 24 h soak has millions of keys, so no key
    is kept as a Python object: each attempt is a 64-bit ``hash()`` of its key, a CRC-32
    of it (checked when two keys meet on the hash: a mismatch makes the accounting fall
    back to comparing the texts, so it stays exact), its class (ack / definite failure /
    unknown) and its text in one ``bytearray`` (~25 bytes an attempt in all). Hashes are
    the process' own, so a ledger is compared only with a :class:`FinalRead` made in
    the same process.
    """

    _hash: list[np.ndarray] = field(default_factory=list)
    _crc: list[np.ndarray] = field(default_factory=list)
    _cls: list[np.ndarray] = field(default_factory=list)
    _text: bytearray = field(default_factory=bytearray)
    _ends: array = field(default_factory=lambda: array("q"))

    def add(self, key: str, status: int, ack: bool) -> None:
        """Record one attempt of ``key``."""
        self.add_columns((key,), (str(status),), ("1" if ack else "0",))

    def add_columns(
        self, keys: Sequence[str], statuses: Sequence[str], acks: Sequence[str]
    ) -> None:
        """Record a chunk of attempts given as CSV text columns (rows without a key skipped)."""
        has_key = list(map(bool, keys))
        if not any(has_key):
            return
        if not all(has_key):
            keys = list(compress(keys, has_key))
            statuses = list(compress(statuses, has_key))
            acks = list(compress(acks, has_key))
        n = len(keys)
        encoded = list(map(str.encode, keys))
        self._hash.append(np.fromiter(map(_key_hash, keys), np.int64, n))
        self._crc.append(np.fromiter(map(zlib.crc32, encoded), np.uint32, n))
        is_ack = np.fromiter(map(operator.eq, acks, repeat("1")), bool, n)
        is_def = np.fromiter(map(DEFINITE_STATUS_TEXT.__contains__, statuses), bool, n)
        self._cls.append(np.where(is_ack, _ACK, np.where(is_def, _DEFINITE, _UNKNOWN))
                         .astype(np.uint8))
        base = len(self._text)
        self._text += b"".join(encoded)
        self._ends.extend(islice(accumulate(map(len, encoded), initial=base), 1, None))

    def __len__(self) -> int:
        return sum(map(len, self._hash))

    def key(self, row: int) -> str:
        """The key of the ``row``-th attempt (0-based, in file order)."""
        start = self._ends[row - 1] if row else 0
        return self._text[start:self._ends[row]].decode()

    def columns(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(hash, crc, class) of every attempt, in file order."""
        if not self._hash:
            return (np.zeros(0, np.int64), np.zeros(0, np.uint32), np.zeros(0, np.uint8))
        if len(self._hash) > 1:
            self._hash = [np.concatenate(self._hash)]
            self._crc = [np.concatenate(self._crc)]
            self._cls = [np.concatenate(self._cls)]
        return self._hash[0], self._crc[0], self._cls[0]

    @property
    def order(self) -> dict[str, None]:
        """Every attempted key in first-attempt order (for small ledgers: tests, evidence)."""
        return dict.fromkeys(self.key(i) for i in range(len(self)))

    @property
    def acked(self) -> set[str]:
        """The acknowledged keys (for small ledgers)."""
        cls = self.columns()[2]
        return {self.key(int(i)) for i in np.flatnonzero(cls == _ACK)}


@dataclass
class FinalRead:
    """The final read's keys as the ledger keeps them: hash, CRC-32, rows, text."""

    hash: np.ndarray
    crc: np.ndarray
    rows: np.ndarray
    _text: bytes
    _ends: np.ndarray
    #: t_s, reads, agreed, sql of final_read.json (for result.json).
    meta: dict[str, object] = field(default_factory=dict)

    @classmethod
    def from_rows(cls, rows: dict[str, int], meta: dict[str, object] | None = None) -> FinalRead:
        n = len(rows)
        encoded = list(map(str.encode, rows))
        lengths = np.fromiter(map(len, encoded), np.int64, n)
        return cls(np.fromiter(map(_key_hash, rows), np.int64, n),
                   np.fromiter(map(zlib.crc32, encoded), np.uint32, n),
                   np.fromiter(rows.values(), np.int32, n), b"".join(encoded),
                   np.cumsum(lengths), dict(meta or {}))

    @classmethod
    def concat(cls, parts: list[FinalRead], meta: dict[str, object]) -> FinalRead:
        """One read from consecutive slices of it."""
        offsets = np.cumsum([0] + [len(p._text) for p in parts[:-1]])
        return cls(np.concatenate([p.hash for p in parts]), np.concatenate([p.crc for p in parts]),
                   np.concatenate([p.rows for p in parts]), b"".join(p._text for p in parts),
                   np.concatenate([p._ends + off for p, off in zip(parts, offsets, strict=True)]),
                   meta)

    def __len__(self) -> int:
        return len(self.hash)

    def key(self, i: int) -> str:
        start = int(self._ends[i - 1]) if i else 0
        return self._text[start:int(self._ends[i])].decode()


def final_read_rows(final: FinalReadRecord | FinalRead | None
                    ) -> tuple[FinalRead | None, str | None]:
    """The final read as a :class:`FinalRead`, or (None, why there is none). Parse a big
    final_read.json with this before the requests are read: its dict is the largest
    transient of verify, and it is dropped as soon as the keys are packed."""
    if isinstance(final, FinalRead):
        return final, None
    if final is None:
        return None, "final_read.json is missing"
    if not final.ok:
        return None, f"final read failed: {final.error or 'ok is false'}"
    return FinalRead.from_rows(_positive(final.rows), final.meta()), None


_ROWS_START = re.compile(r'"rows"\s*:\s*\{')
_ENTRY_CUT = re.compile(r'(?<=[0-9])\s*,\s*(?=")')
_ROWS_END = re.compile(r'(?<=[0-9])\s*\}')
_EMPTY = re.compile(r'\s*\}')
#: Characters of final_read.json's rows parsed at once (~60,000 keys).
_SLICE_CHARS = 1 << 20


def load_final_read(path: Path) -> FinalRead | FinalReadRecord | None:
    """final_read.json packed as a :class:`FinalRead` when it has rows, else its record (its
    ``error`` says why there is no read), or None when the file is missing.

    A 24 h soak reads back millions of keys; ``json.loads`` of the whole file would hold
    them as a dict (~1.3 GB for 5 M keys). The ``rows`` object is parsed a slice at a
    time instead, cut between entries (after a number, before a quote: never inside a
    string, where every quote is escaped), each slice packed before the next is read; the
    rest of the file is read as a :class:`~harness.records.FinalReadRecord` (a newer
    format is refused). Anything unexpected (a cut that does not parse) falls back to the
    whole-file parse."""
    if not path.exists():
        return None
    text = path.read_text(encoding="utf-8")
    try:
        packed = _stream_final_read(text, str(path))
    except RecordError as exc:  # the file's own fields: a newer format, a malformed ok
        raise VerifyError(str(exc)) from exc
    except (ValueError, TypeError):  # a cut that does not parse: the whole-file parse
        packed = None
    if packed is not None:
        return packed
    from harness.verify.rundir import read_json

    try:
        record = FinalReadRecord.from_json(read_json(path), str(path))
    except RecordError as exc:
        raise VerifyError(str(exc)) from exc
    read, _ = final_read_rows(record)
    return read if read is not None else record


def _stream_final_read(text: str, what: str) -> FinalRead | None:
    start = _ROWS_START.search(text)
    if start is None:
        return None
    pos, parts, seen = start.end(), [], 0
    if _EMPTY.match(text, pos):
        return None  # no rows: the small path
    while True:
        cut = _ENTRY_CUT.search(text, pos + _SLICE_CHARS)
        end = _ROWS_END.search(text, pos) if cut is None else None
        stop = cut.start() if cut is not None else (end.start() if end is not None else -1)
        if stop < 0:
            return None
        chunk = json.loads("{" + text[pos:stop] + "}")
        seen += len(chunk)
        rows = _positive(chunk)
        if rows:
            parts.append(FinalRead.from_rows(rows))
        if cut is None:
            assert end is not None
            rest = text[:start.end() - 1] + "{}" + text[end.end():]
            break
        pos = cut.end()
    meta = FinalReadRecord.from_json(json.loads(rest), what)
    if not meta.ok or not parts:
        return None
    return FinalRead.concat(parts, meta.meta())


def _positive(rows: dict[str, int]) -> dict[str, int]:
    """The final read's {key: rows} without the empty key (JSON keys are strings: an empty
    key is no key) and counts below one; the dict itself when nothing is to drop."""
    rows.pop("", None)
    if rows and min(rows.values()) < 1:
        rows = {str(k): int(n) for k, n in rows.items() if int(n) >= 1}
    return rows


#: The write classes whose counts are metrics (``<class>_writes``).
WRITE_CLASSES = ("lost", "duplicated", "unexpected", "phantom", "recovered")


def write_metrics(writes: WriteAccounting) -> dict[str, dict[str, object]]:
    """The ``writes`` family (:data:`harness.verify.catalog.FAMILIES`): each class's count
    of :func:`account_writes` as ``<class>_writes``, for the whole run."""
    return {"run": {f"{c}_writes": getattr(writes, c) for c in WRITE_CLASSES}}


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


@dataclass
class _Keys:
    """Every distinct key of the ledger and the final read, as one index ``0..n-1``."""

    first: np.ndarray     # per key: its first row in (ledger rows + read rows)
    attempted: np.ndarray  # per key: some attempt has it
    acked: np.ndarray
    failed: np.ndarray
    in_read: np.ndarray
    read_index: np.ndarray  # per key: its position in the final read (when in_read)


def _key_ids(ledger: WriteLedger, read: FinalRead | None) -> np.ndarray:
    """One id per ledger row then per read key: its 64-bit hash."""
    h = ledger.columns()[0]
    return h if read is None else np.concatenate([h, read.hash])


def _texts(ledger: WriteLedger, read: FinalRead | None) -> np.ndarray:
    texts = [ledger.key(i) for i in range(len(ledger))]
    if read is not None:
        texts += [read.key(i) for i in range(len(read))]
    return np.array(texts, dtype=object)


def _group(ledger: WriteLedger, read: FinalRead | None) -> tuple[np.ndarray, np.ndarray] | None:
    """(first row of each distinct key, the distinct key's index per row) over the ledger's
    rows then the read's keys, by hash, sorting once, with 32-bit indices (10 M keys cost
    ~40 MB a column); None when two rows share a hash but not the CRC-32 (a collision)."""
    ids = _key_ids(ledger, read)
    n = len(ids)
    index = np.int32 if n < 2**31 else np.int64
    order = np.argsort(ids, kind="stable").astype(index)
    ordered = ids[order]
    del ids  # the concatenation: let it go before the next columns
    new = np.ones(n, bool)
    np.not_equal(ordered[1:], ordered[:-1], out=new[1:])
    del ordered
    crc = ledger.columns()[1]
    if n > 1:
        sc = (crc if read is None else np.concatenate([crc, read.crc]))[order]
        if np.any(~new[1:] & (sc[1:] != sc[:-1])):
            return None
        del sc
    group = np.cumsum(new, dtype=index) - 1
    first = order[new]  # the stable sort keeps each id's rows in file order
    inverse = np.empty(n, index)
    inverse[order] = group
    return first, inverse


def _classify(ledger: WriteLedger, read: FinalRead | None) -> _Keys:
    cls = ledger.columns()[2]
    n_rows = len(cls)
    grouped = _group(ledger, read)
    if grouped is None:  # a hash collision: the texts decide (exact, slower, only then)
        _, first, inverse = np.unique(_texts(ledger, read), return_index=True,
                                      return_inverse=True)
        grouped = first, inverse.reshape(-1)
    first, inverse = grouped
    n = len(first)
    rows_inv, read_inv = inverse[:n_rows], inverse[n_rows:]

    def mark(which: np.ndarray) -> np.ndarray:
        out = np.zeros(n, bool)
        out[which] = True
        return out

    acked = mark(rows_inv[cls == _ACK])
    failed = mark(rows_inv[cls == _DEFINITE]) & ~acked & ~mark(rows_inv[cls == _UNKNOWN])
    read_index = np.full(n, -1, inverse.dtype)
    read_index[read_inv] = np.arange(len(read_inv), dtype=inverse.dtype)
    return _Keys(first, first < n_rows, acked, failed, mark(read_inv), read_index)


def _in_attempt_order(ledger: WriteLedger, keys: _Keys, mask: np.ndarray,
                      limit: int = EXAMPLES) -> list[str]:
    """The first ``limit`` keys of ``mask`` by first attempt."""
    rows = np.sort(keys.first[mask])[:limit]
    return [ledger.key(int(r)) for r in rows]


def account_writes(ledger: WriteLedger, final: FinalReadRecord | FinalRead | None,
                   from_lost_worker: Callable[[str], bool] | None = None) -> WriteAccounting:
    """The ``writes`` section of result.json: counts per class, verdict, first keys of each.
    ``from_lost_worker`` (:func:`lost_worker_keys`) names the keys whose rows may not have
    arrived; read back without a row, they are ``unrecorded``, not ``unexpected``."""
    read, why_none = final_read_rows(final)
    keys = _classify(ledger, read)
    attempted = int(keys.attempted.sum())
    n_acked, n_failed = int(keys.acked.sum()), int(keys.failed.sum())
    if read is None or attempted == 0:
        # no write recorded (no write_key column, or no request carried a key): nothing to
        # hold the read against, so none of the classes is measured (0 lost is no evidence)
        why = why_none if read is None else (
            f"no write was recorded in the request log (no write_key column, or no request "
            f"carried a key): {len(read)} keys read back cannot be accounted")
        return WriteAccounting(
            attempted=attempted, acknowledged=n_acked, failed=n_failed,
            read=None if read is None else len(read), lost=None,
            unexpected=None, duplicated=None, phantom=None, recovered=None,
            indeterminate=None, verdict="unknown", reason=why, examples={})
    lost = keys.acked & ~keys.in_read
    phantom = keys.failed & keys.in_read
    recovered = keys.in_read & keys.attempted & ~keys.acked & ~keys.failed
    strangers = sorted(read.key(int(i)) for i in keys.read_index[keys.in_read & ~keys.attempted])
    unrecorded: list[str] = []
    if from_lost_worker is not None and strangers:
        unrecorded = [k for k in strangers if from_lost_worker(k)]
        strangers = [k for k in strangers if not from_lost_worker(k)]
    n_recovered = int(recovered.sum())
    rows_of = {read.key(int(i)): int(read.rows[i]) for i in np.flatnonzero(read.rows > 1)}
    duplicated = sorted(rows_of)
    n_lost, n_phantom = int(lost.sum()), int(phantom.sum())
    bad = bool(n_lost or n_phantom or strangers or duplicated)
    examples = {
        "lost": _in_attempt_order(ledger, keys, lost), "duplicated": _first(duplicated),
        "unexpected": _first(strangers), "phantom": _in_attempt_order(ledger, keys, phantom),
        "recovered": _in_attempt_order(ledger, keys, recovered),
        **({"unrecorded": _first(unrecorded)} if from_lost_worker is not None else {}),
    }
    return WriteAccounting(
        attempted=attempted, acknowledged=n_acked, failed=n_failed, read=len(read),
        lost=n_lost, unexpected=len(strangers), duplicated=len(duplicated), phantom=n_phantom,
        recovered=n_recovered, indeterminate=attempted - n_acked - n_failed - n_recovered,
        unrecorded=len(unrecorded) if from_lost_worker is not None else None,
        verdict="fail" if bad else "pass", reason=None, examples=examples,
        duplicate_rows={k: rows_of[k] for k in _first(duplicated)}, final_read=read.meta,
    )


def describe_keys(csv_path: Path, keys: Iterable[str], limit: int = 5
                  ) -> dict[str, list[dict[str, object]]]:
    """Every recorded attempt (up to ``limit`` each) of a few keys: the evidence of a lost key.

    A second, bounded pass over requests.csv, run only when there is something to show.
    """
    wanted = set(keys)
    found: dict[str, list[dict[str, object]]] = {k: [] for k in wanted}
    if not wanted:
        return found
    with open_requests(csv_path) as fh:
        reader = csv.reader(fh)
        header = [name.strip() for name in next(reader, [])]
        if "write_key" not in header:
            return found
        at = header.index("write_key")
        for fields in reader:  # a plain reader, a dict only for the wanted rows (10 M rows)
            if len(fields) > at and fields[at] in wanted:
                row = dict(zip(header, fields, strict=False))
                key = row["write_key"]
                if len(found[key]) < limit:
                    found[key].append({
                        "t_s": float(row["t_s"]), "status": int(row.get("status") or 0),
                        "ack": row.get("ack") == "1", "attempt": int(row.get("attempt") or 1),
                        "latency_ms": float(row.get("latency_ms") or 0),
                        "error": row.get("error") or "",
                    })
    return found
