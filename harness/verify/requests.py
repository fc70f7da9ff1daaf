"""Stream requests.csv once into compact columns.

One pass with the csv module; every row becomes a few machine numbers (start time,
latency, status, ok, an error-class code and a task-name code: about 20 bytes a row,
so a million rows cost ~20 MB) and every write attempt feeds the
:class:`~harness.verify.writes.WriteLedger`. The phase split depends on recovery
times, which depend on the requests, so the checkers work on these columns after the
pass instead of re-reading the file.
"""

from __future__ import annotations

import contextlib
import csv
import gc
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice, repeat
from pathlib import Path
from typing import cast

import numpy as np

from harness.errors import VerifyError
from harness.requests_file import open_requests
from harness.verify.writes import WriteLedger

__all__ = ["REQUIRED_COLUMNS", "RequestTable", "read_requests"]

REQUIRED_COLUMNS = ("t_s", "name", "status", "ok", "latency_ms")
_MAX_CODES = 255
#: Rows converted at once: big enough for C-level maps to dominate, small for memory.
CHUNK_ROWS = 20_000


@dataclass
class RequestTable:
    """Columns of requests.csv; index ``i`` is the i-th row.

    ``error_code[i]`` indexes ``errors`` (0 is ``""``, no error); ``name_code[i]``
    indexes ``names``. Rows are in file order, which need not be time order when
    several workers write; :meth:`time_order` gives the sorted view.
    """

    t_s: array = field(default_factory=lambda: array("d"))
    latency_ms: array = field(default_factory=lambda: array("d"))
    status: array = field(default_factory=lambda: array("H"))
    ok: bytearray = field(default_factory=bytearray)
    error_code: bytearray = field(default_factory=bytearray)
    name_code: bytearray = field(default_factory=bytearray)
    errors: list[str] = field(default_factory=lambda: [""])
    names: list[str] = field(default_factory=list)
    _order: Sequence[int] | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.t_s)

    def time_order(self) -> Sequence[int]:
        """Row indices sorted by start time (computed once; a ``range`` when already sorted)."""
        if self._order is None:
            t = np.frombuffer(self.t_s, np.float64) if len(self.t_s) else np.zeros(0)
            if not np.any(t[1:] < t[:-1]):
                self._order = range(len(t))
            else:  # machine ints (a list of 10 M ints would cost 360 MB); stable: file order on ties
                self._order = cast(Sequence[int], np.argsort(t, kind="stable"))
        return self._order

    @property
    def in_time_order(self) -> bool:
        """Whether the rows are already in start-time order."""
        return isinstance(self.time_order(), range)

    def code(self, table: list[str], text: str) -> int:
        """Intern ``text`` in ``table`` (errors or names); overflow folds into the last code."""
        try:
            return table.index(text)
        except ValueError:
            if len(table) >= _MAX_CODES:
                return _MAX_CODES - 1
            table.append(text)
            return len(table) - 1


def _columns(header: list[str], path: Path) -> dict[str, int]:
    index = {name.strip(): i for i, name in enumerate(header)}
    missing = [c for c in REQUIRED_COLUMNS if c not in index]
    if missing:
        raise VerifyError(f"{path}: header lacks column(s) {', '.join(missing)}; got {header}")
    return index


def read_requests(path: Path | None, ledger: WriteLedger) -> RequestTable:
    """Read requests.csv (``None`` or missing: an empty table) into columns and the ledger."""
    table = RequestTable()
    if path is None or not path.exists():
        return table
    with open_requests(path) as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None:
            return table
        with _gc_paused():
            _fill(table, reader, _columns(header, path), ledger, path)
    return table


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic GC for the read: it allocates a million short-lived row lists,
    and each full collection would traverse the ledger's growing sets (no cycles are
    made here; reference counting frees every row)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _fill(
    table: RequestTable, reader: Iterable[list[str]], col: dict[str, int], ledger: WriteLedger,
    path: Path,
) -> None:
    """Convert rows a chunk at a time, column by column, with C-level ``map``s; a chunk
    with a malformed number is redone row by row to name the line."""
    width = max(col.values()) + 1
    line_no = 2
    while True:
        chunk = list(islice(reader, CHUNK_ROWS))
        if not chunk:
            return
        if min(map(len, chunk)) < width:  # a torn last line or blank lines
            chunk = [r + [""] * (width - len(r)) for r in chunk if r]
        try:
            _fill_chunk(table, list(zip(*chunk, strict=False)), col, ledger)
        except ValueError:
            _raise_bad_row(chunk, col, path, line_no)
        line_no += len(chunk)


def _codes(table: RequestTable, names: list[str], column: Sequence[str]) -> bytes:
    """Intern every distinct text of ``column`` in ``names``; the column as codes."""
    lookup = {text: table.code(names, text) for text in set(column)}
    return bytes(map(lookup.__getitem__, column))


def _fill_chunk(
    table: RequestTable, columns: list[tuple[str, ...]], col: dict[str, int], ledger: WriteLedger
) -> None:
    """Append one chunk given as columns (``columns[i]`` is CSV column ``i``)."""
    if not columns:
        return
    blank = ("",) * len(columns[0])

    def column(name: str) -> tuple[str, ...]:
        index = col.get(name)
        return columns[index] if index is not None and index < len(columns) else blank

    table.t_s.extend(array("d", map(float, column("t_s"))))
    table.latency_ms.extend(array("d", map(float, [x or "0" for x in column("latency_ms")])))
    status_text = column("status")
    try:
        table.status.extend(array("H", map(int, status_text)))
    except (ValueError, OverflowError):  # empty or odd statuses: the careful path
        table.status.extend(array("H", map(_status, status_text)))
    table.ok.extend(bytes(map(_OK.get, column("ok"), repeat(0))))
    table.error_code.extend(_codes(table, table.errors, column("error")))
    table.name_code.extend(_codes(table, table.names, column("name")))
    if "write_key" in col:
        ledger.add_columns(column("write_key"), status_text, column("ack"))


_OK = {"1": 1, "0": 0, "": 0, "true": 1, "True": 1}


def _status(text: str) -> int:
    code = int(text or 0)
    return code if 0 <= code < 65536 else 0


def _raise_bad_row(chunk: list[list[str]], col: dict[str, int], path: Path, first: int) -> None:
    for offset, row in enumerate(chunk):
        try:
            float(row[col["t_s"]])
            float(row[col["latency_ms"]] or 0)
            _status(row[col["status"]])
        except ValueError as exc:
            raise VerifyError(f"{path}:{first + offset}: bad number: {exc}; row {row}") from exc
    raise VerifyError(f"{path}: a bad number in rows {first}..{first + len(chunk) - 1}")
