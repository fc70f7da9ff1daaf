"""Durations as scenario files write them: ``"90s"``, ``"2m"``, ``"500ms"``, ``"1h30m"``, ``"24h"``.

A plain number (TOML integer or float) means seconds. Parsed values are float seconds;
:func:`format_duration` writes them back in the shortest exact form, so a resolved
scenario written to the run directory reads back to the same numbers.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal

from harness.brief import brief

__all__ = ["MAX_DURATION_S", "format_duration", "parse_duration"]

#: The longest duration anything in a scenario may last: a year (a soak runs for hours or
#: days; a bound keeps every sum of durations and every timer far from overflowing).
MAX_DURATION_S = 366 * 86400.0
#: The longest duration text read: what format_duration writes for any float fits (its
#: positional form of the smallest one, 5e-324 s, is about 330 characters).
_MAX_TEXT = 512

_UNITS: dict[str, Decimal] = {
    "ms": Decimal("0.001"), "s": Decimal(1), "m": Decimal(60), "h": Decimal(3600),
    "d": Decimal(86400),
}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_WHOLE = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+")


def parse_duration(value: object) -> float:
    """Seconds for ``value`` (a duration string or a non-negative number of seconds), at
    most :data:`MAX_DURATION_S`.

    Raises :class:`ValueError` saying what was expected; the scenario loader wraps it
    with the file and key path.
    """
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f'expected a duration like "30s", "2m", "500ms", got {brief(value)}')
    if isinstance(value, int | float):
        try:
            seconds = float(value)
        except OverflowError:  # an integer beyond the float range
            seconds = math.inf
    else:
        text = value.strip().replace(" ", "")
        if len(text) > _MAX_TEXT or not _WHOLE.fullmatch(text):
            raise ValueError(
                f'expected a duration like "30s", "2m", "500ms" or "1h30m", got {brief(value)}'
            )
        # exact decimal arithmetic, one rounding at the end: "1900ms" is exactly float 1.9
        total = sum((Decimal(n) * _UNITS[unit] for n, unit in _PART.findall(text)), Decimal(0))
        seconds = float(total)
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"expected a non-negative, finite duration, got {brief(value)}")
    if seconds > MAX_DURATION_S:
        raise ValueError(f"must be at most 366d (a year), got "
                         f"{brief(value)}")
    return seconds


def format_duration(seconds: float) -> str:
    """The shortest string :func:`parse_duration` reads back to exactly ``seconds``."""
    if seconds < 0 or not math.isfinite(seconds):
        raise ValueError(f"cannot format duration {seconds!r}")
    if seconds == 0:
        return "0s"
    exact = Decimal(repr(seconds))  # the shortest decimal that is this float
    for unit in ("h", "m", "s", "ms"):
        count = exact / _UNITS[unit]
        if count >= 1 and count == count.to_integral_value():
            return f"{int(count)}{unit}"
    # repr is the shortest exact decimal; write it positionally ("1e-07" is not a duration)
    return format(Decimal(repr(seconds)), "f") + "s"
