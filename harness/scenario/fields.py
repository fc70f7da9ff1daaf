"""Typed reads from one TOML table, each error naming the file and the key path.

A :class:`Table` wraps a parsed TOML table with its key path (``load``,
``fault[2]``); it rejects unknown keys with a did-you-mean and reads each known key
with a type check, so no malformed value ever escapes as anything but a
:class:`~harness.errors.ScenarioError`.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Collection, Iterable
from typing import Any

from harness.brief import brief
from harness.errors import ScenarioError
from harness.scenario.durations import format_duration, parse_duration

__all__ = ["Table", "did_you_mean_text", "number_text", "type_name"]


def type_name(value: object) -> str:
    """The TOML name of a value's type, for messages."""
    names = {bool: "boolean", int: "integer", float: "float", str: "string",
             list: "array", dict: "table"}
    return names.get(type(value), type(value).__name__)


def number_text(value: float) -> str:
    """A bound as a message shows it: integers exactly (``9223372036854775807``, not
    ``9.22337e+18``), floats in their shortest form."""
    if isinstance(value, int) or float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:g}"


def did_you_mean_text(name: str, choices: Iterable[str]) -> str:
    """``" (did you mean 'x'?)"`` for the closest of ``choices``, or ``""``."""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


class Table:
    """One table of a scenario file: known keys, typed getters, located errors."""

    def __init__(self, file: str, path: str, data: object, known: Collection[str]) -> None:
        self.file = file
        self.path = path
        if not isinstance(data, dict):
            raise ScenarioError(file, path, f"expected a table, got {type_name(data)}")
        self.data: dict[str, Any] = data
        for key in data:
            if key not in known:
                raise self.error(key, "unknown key" + did_you_mean_text(key, known)
                                 + f"; expected one of: {', '.join(sorted(known))}")

    def key(self, name: str) -> str:
        """The full key path of ``name`` in this table."""
        return f"{self.path}.{name}" if self.path else name

    def error(self, name: str, problem: str) -> ScenarioError:
        """A ScenarioError at ``name`` in this table."""
        return ScenarioError(self.file, self.key(name), problem)

    def has(self, name: str) -> bool:
        """Whether the file sets ``name`` in this table."""
        return name in self.data

    def str_(self, name: str, default: str, choices: tuple[str, ...] | None = None) -> str:
        """A string; with ``choices``, one of them."""
        value = self.data.get(name, default)
        if not isinstance(value, str):
            raise self.error(name, f"expected a string, got {type_name(value)} {brief(value)}")
        if choices is not None and value not in choices:
            raise self.error(name, f"expected one of {', '.join(map(repr, choices))}, got "
                             f"{brief(value)}" + did_you_mean_text(value, choices))
        return value

    def bool_(self, name: str, default: bool) -> bool:
        """A boolean (true/false, not 0/1)."""
        value = self.data.get(name, default)
        if not isinstance(value, bool):
            raise self.error(name, f"expected true or false, got {type_name(value)} {brief(value)}")
        return value

    def int_(self, name: str, default: int, lo: int | None = None, hi: int | None = None) -> int:
        """An integer within ``[lo, hi]``."""
        value = self.data.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(name, f"expected an integer, got {type_name(value)} {brief(value)}")
        self._check_range(name, value, lo, hi)
        return value

    def float_(self, name: str, default: float, lo: float | None = None,
               hi: float | None = None) -> float:
        """A number (integer or float) within ``[lo, hi]``."""
        value = self.data.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(name, f"expected a number, got {type_name(value)} {brief(value)}")
        if isinstance(value, float) and not math.isfinite(value):
            raise self.error(name, f"expected a finite number, got {value!r}")
        self._check_range(name, value, lo, hi)
        return float(value)

    def duration(self, name: str, default: float, lo: float = 0.0) -> float:
        """A duration in seconds (``"30s"``, ``"2m"``, ``"500ms"`` or a number of seconds)."""
        value = self.data.get(name, default)
        try:
            seconds = parse_duration(value)
        except ValueError as exc:
            raise self.error(name, str(exc)) from None
        if seconds < lo:
            raise self.error(name, f"must be >= {format_duration(lo)}, got {brief(value)}")
        return seconds

    def optional_duration(self, name: str) -> float | None:
        """A duration when the key is present, else None."""
        return self.duration(name, 0.0) if name in self.data else None

    def table(self, name: str, known: Collection[str]) -> Table:
        """The sub-table ``name`` (empty when absent)."""
        return Table(self.file, self.key(name), self.data.get(name, {}), known)

    def str_map(self, name: str) -> dict[str, str]:
        """A table of string values (e.g. ``env``)."""
        raw = self.data.get(name, {})
        if not isinstance(raw, dict):
            raise self.error(name, f"expected a table of strings, got {type_name(raw)}")
        for key, value in raw.items():
            if not isinstance(value, str):
                raise ScenarioError(self.file, f"{self.key(name)}.{key}",
                                    f"expected a string, got {type_name(value)} {brief(value)}")
        return dict(raw)

    def str_list(self, name: str) -> list[str]:
        """An array of strings."""
        raw = self.data.get(name, [])
        if not isinstance(raw, list):
            raise self.error(name, f"expected an array of strings, got {type_name(raw)}")
        for i, value in enumerate(raw):
            if not isinstance(value, str):
                raise ScenarioError(self.file, f"{self.key(name)}[{i}]",
                                    f"expected a string, got {type_name(value)} {brief(value)}")
        return list(raw)

    def _check_range(self, name: str, value: float, lo: float | None, hi: float | None) -> None:
        if lo is not None and value < lo:
            raise self.error(name, f"must be >= {number_text(lo)}, got {brief(value)}")
        if hi is not None and value > hi:
            raise self.error(name, f"must be <= {number_text(hi)}, got {brief(value)}")

