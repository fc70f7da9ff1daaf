"""Stream requests.csv once into compact columns.

One pass with the csv module; every row becomes a few machine numbers (start time,
latency, status, ok, an error-class code and a task-name code: about 20 bytes a row,
so a million rows cost ~20 MB) and every write attempt feeds the
:class:`~harness.verify.writes.WriteLedger`. The phase split depends on recovery
times, which depend on the requests, so the checkers work on these columns after the
pass instead of re-reading the file.
"""

from __future__ import annotations

import csv
from array import array
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import VerifyError
from harness.verify.writes import WriteLedger

__all__ = ["REQUIRED_COLUMNS", "RequestTable", "read_requests"]

REQUIRED_COLUMNS = ("t_s", "name", "status", "ok", "latency_ms")
_MAX_CODES = 255


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
    _order: list[int] | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.t_s)

    def time_order(self) -> list[int]:
        """Row indices sorted by start time (computed once; identity when already sorted)."""
        if self._order is None:
            t = self.t_s
            if all(t[i] <= t[i + 1] for i in range(len(t) - 1)):
                self._order = list(range(len(t)))
            else:
                self._order = sorted(range(len(t)), key=t.__getitem__)
        return self._order

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
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None:
            return table
        _fill(table, reader, _columns(header, path), ledger, path)
    return table


def _fill(
    table: RequestTable, reader: Iterable[list[str]], col: dict[str, int], ledger: WriteLedger, path: Path
) -> None:
    """The hot loop: locals bound once, dict lookups only for new error/name strings."""
    it_t, it_l, it_s = col["t_s"], col["latency_ms"], col["status"]
    it_ok, it_n = col["ok"], col["name"]
    it_e, it_k, it_a = col.get("error"), col.get("write_key"), col.get("ack")
    t_app, l_app, s_app = table.t_s.append, table.latency_ms.append, table.status.append
    ok_app, e_app, n_app = table.ok.append, table.error_code.append, table.name_code.append
    err_codes: dict[str, int] = {"": 0}
    name_codes: dict[str, int] = {}
    add_write = ledger.add
    width = max(col.values()) + 1
    for line_no, row in enumerate(reader, 2):
        if len(row) < width:
            if not row:
                continue
            row = row + [""] * (width - len(row))  # a torn last line
        try:
            status = int(row[it_s] or 0)
            t_app(float(row[it_t]))
            l_app(float(row[it_l] or 0.0))
        except ValueError as exc:
            raise VerifyError(f"{path}:{line_no}: bad number: {exc}; row {row}") from exc
        s_app(status if 0 <= status < 65536 else 0)
        ok_app(1 if row[it_ok] == "1" else 0)
        err = row[it_e] if it_e is not None else ""
        code = err_codes.get(err)
        if code is None:
            code = err_codes[err] = table.code(table.errors, err)
        e_app(code)
        name = row[it_n]
        ncode = name_codes.get(name)
        if ncode is None:
            ncode = name_codes[name] = table.code(table.names, name)
        n_app(ncode)
        if it_k is not None and row[it_k]:
            add_write(row[it_k], status, it_a is not None and row[it_a] == "1")
