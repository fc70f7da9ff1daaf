"""Bounds on a parsed TOML document, before any key of it is read.

A scenario or suite file is input from anyone. Before the loader reads a key, the whole
document is walked once (iteratively: the walk itself cannot run out of stack) and
refused, with the key path, when it

* nests arrays and tables more than :data:`MAX_DEPTH` levels deep (everything after
  the parser recurses over values: request templates, the writer, messages), or
* holds an integer outside TOML's 64-bit range (the TOML spec says a parser must not
  accept one it cannot represent losslessly; Python's tomllib does, and a 400-digit
  integer then overflows the first float conversion).

The parser's own failures on such input (RecursionError, the ValueError of Python's
int-string limit) are turned into the same kind of message by the loader, with
:func:`huge_literal_problem` naming the line of the offending number.
"""

from __future__ import annotations

import re
import sys
from typing import Any

from harness.brief import brief
from harness.errors import ScenarioError

__all__ = ["INT64_MAX", "INT64_MIN", "MAX_DEPTH", "MAX_FILE_BYTES", "check_document",
           "huge_literal_problem", "key_path"]

#: How deep arrays and tables may nest (the shipped scenarios nest 4 deep at most).
MAX_DEPTH = 32
#: The largest scenario or suite file read (the shipped ones are a few KiB).
MAX_FILE_BYTES = 1024 * 1024
INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)
_NUMBER_RUN = re.compile(r"[0-9][0-9_]*")


def key_path(parts: tuple[str | int, ...]) -> str:
    """``("load", "request", 0, "json")`` as ``load.request[0].json``."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def check_document(doc: dict[str, Any], file: str) -> None:
    """Raise ScenarioError at the first value nested deeper than MAX_DEPTH, or the first
    integer outside the 64-bit range."""
    stack: list[tuple[tuple[str | int, ...], object]] = [((), doc)]
    while stack:
        path, node = stack.pop()
        items: list[tuple[str | int, object]]
        if isinstance(node, dict):
            items = list(node.items())
        elif isinstance(node, list):
            items = list(enumerate(node))
        else:
            if isinstance(node, int) and not isinstance(node, bool) \
                    and not INT64_MIN <= node <= INT64_MAX:
                raise ScenarioError(file, key_path(path), "integer out of range: TOML integers "
                                    f"are 64-bit (at most {INT64_MAX}), got {brief(node)}")
            continue
        if items and len(path) >= MAX_DEPTH:
            raise ScenarioError(file, key_path(path), f"nested too deeply: arrays and tables "
                                f"nest at most {MAX_DEPTH} levels deep here")
        stack.extend(((*path, key), value) for key, value in reversed(items))


def huge_literal_problem(text: str, exc: ValueError) -> str:
    """The problem to report when tomllib raised a plain ValueError: Python refuses to
    convert an integer literal of more than 4300 digits. Names the line of the first
    digit run beyond that limit, and its length, when there is one."""
    limit = sys.get_int_max_str_digits() or 4300
    found = next((m for m in _NUMBER_RUN.finditer(text)
                  if len(m.group().replace("_", "")) > limit), None)
    if found is None:
        return f"not valid TOML: {exc}"
    line = text.count("\n", 0, found.start()) + 1
    digits = len(found.group().replace("_", ""))
    return (f"line {line}: a number of {digits} digits: TOML integers are 64-bit (at most "
            f"{INT64_MAX}, 19 digits)")
