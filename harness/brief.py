"""Short, single-line renderings of untrusted values, for error messages.

A scenario file is input from anyone: ``repr`` of what it holds can be megabytes long,
span lines, or fail outright (an integer of more than 4300 digits cannot be converted to
a string; a deeply nested array exhausts the recursion limit). :func:`brief` never fails
and never grows with the input: long strings and containers are cut, huge integers are
described by their size.
"""

from __future__ import annotations

import math

__all__ = ["brief", "brief_text"]

#: Characters of a string shown before it is cut.
_TEXT_LIMIT = 60
#: Items of an array or table shown, and how deep into nested ones.
_ITEMS = 4
_DEPTH = 2
#: Integers of more digits than this are described ("an integer of 400 digits").
_INT_DIGITS = 30


def _digits(value: int) -> int:
    """The number of decimal digits of ``value`` without converting it to a string."""
    if value == 0:
        return 1
    bits = abs(value).bit_length()
    estimate = math.floor((bits - 1) * math.log10(2)) + 1
    return max(1, estimate)


def brief_text(text: str, limit: int = _TEXT_LIMIT) -> str:
    """``repr(text)``, cut after ``limit`` characters (saying how long it was)."""
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}... ({len(text)} characters)"


def brief(value: object, limit: int = _TEXT_LIMIT, _depth: int = 0) -> str:
    """A bounded, single-line ``repr`` of ``value`` (never raises)."""
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, int):
        if _digits(value) > _INT_DIGITS:
            sign = "-" if value < 0 else ""
            return f"<{sign}integer of about {_digits(value)} digits>"
        return repr(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return brief_text(value, limit)
    if isinstance(value, list | tuple):
        if _depth >= _DEPTH:
            return f"[... {len(value)} items]" if value else "[]"
        items = [brief(v, limit, _depth + 1) for v in value[:_ITEMS]]
        more = f", ... {len(value) - _ITEMS} more" if len(value) > _ITEMS else ""
        return "[" + ", ".join(items) + more + "]"
    if isinstance(value, dict):
        if _depth >= _DEPTH:
            return f"{{... {len(value)} keys}}" if value else "{}"
        pairs = [f"{brief(str(k), limit, _depth + 1)}: {brief(v, limit, _depth + 1)}"
                 for k, v in list(value.items())[:_ITEMS]]
        more = f", ... {len(value) - _ITEMS} more" if len(value) > _ITEMS else ""
        return "{" + ", ".join(pairs) + more + "}"
    try:
        return brief_text(str(value), limit)
    except Exception:  # noqa: BLE001 - a value whose str() fails is still described
        return f"<{type(value).__name__}>"
