"""``final_read.json`` (docs/run-directory.md): :class:`FinalReadRecord`, the written keys
read back straight from Postgres after every fault was healed. Stdlib only.

``ok: false`` (or no file) means there was no final read: write accounting is then
``unknown``, never a pass. Verify parses a large file's ``rows`` a slice at a time
(:func:`harness.verify.writes.load_final_read`); the rest of the file is this record.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from harness.records.base import (
    FORMAT_VERSION,
    RecordError,
    check_format,
    opt_bool,
    opt_float,
    opt_int,
    opt_str,
)

__all__ = ["FinalReadRecord"]


@dataclass
class FinalReadRecord:
    """What the final read found: ``rows`` maps each key to how many rows hold it."""

    ok: bool = False
    error: str | None = None
    sql: str = ""
    reads: int = 0
    agreed: bool = False
    t_s: float | None = None
    rows: dict[str, int] = field(default_factory=dict)
    format: int = FORMAT_VERSION

    def meta(self) -> dict[str, object]:
        """What result.json's ``writes.final_read`` repeats: when, how many reads, the SQL."""
        return {"t_s": self.t_s, "reads": self.reads, "agreed": self.agreed, "sql": self.sql}

    def to_json(self) -> dict[str, object]:
        return {"format": self.format, "ok": self.ok, "error": self.error, "sql": self.sql,
                "reads": self.reads, "agreed": self.agreed, "t_s": self.t_s, "rows": self.rows}

    @classmethod
    def from_json(cls, obj: Mapping[str, object],
                  what: str = "final_read.json") -> FinalReadRecord:
        """Parse the file; rows whose count is not a whole number are refused."""
        if not isinstance(obj, Mapping):
            raise RecordError(f"{what}: expected a JSON object")
        fmt = check_format(obj, what)
        rows = obj.get("rows", {})
        if not isinstance(rows, dict):
            raise RecordError(f"{what}: rows must be an object of key -> count")
        counted: dict[str, int] = {}
        for key, n in rows.items():
            if isinstance(n, bool) or not isinstance(n, int | float):
                raise RecordError(f"{what}: rows[{key!r}] must be a count, got {n!r}")
            counted[str(key)] = int(n)
        return cls(ok=bool(opt_bool(obj, "ok", what)), error=opt_str(obj, "error", what),
                   sql=opt_str(obj, "sql", what) or "", reads=opt_int(obj, "reads", what) or 0,
                   agreed=bool(opt_bool(obj, "agreed", what)), t_s=opt_float(obj, "t_s", what),
                   rows=counted, format=fmt)
