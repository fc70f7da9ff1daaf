"""What every record shares: the run directory's format version, the error a malformed
file raises, and typed readers of one JSON object's fields.

Stdlib only (the Locust process imports the records too).

Format versions (``format`` in run.json and result.json; the other files are read by the
version their run.json names):

- ``1``: run directories written before the records existed. They carry no ``format``
  field and read as version 1; every file of them still reads (the fields the records
  added, such as a timeline line's ``affects``, are absent and read as unknown).
- ``2``: the records (this module), the current version.

A file whose ``format`` is newer than :data:`FORMAT_VERSION` is refused with
:class:`RecordError`: its meaning may have changed, so this version of chaosharness cannot
judge it; verify or report it with the chaosharness that wrote it.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["FORMAT_VERSION", "LEGACY_FORMAT", "RecordError", "check_format", "opt_bool",
           "opt_float", "opt_int", "opt_obj", "opt_str"]

#: The run-directory format this version writes.
FORMAT_VERSION = 2
#: The version of a file without a ``format`` field (written before the records).
LEGACY_FORMAT = 1


class RecordError(ValueError):
    """A run-directory file that does not have its record's shape; the message names the
    file and the field (readers re-raise it as their stage's error)."""


def check_format(obj: Mapping[str, object], what: str) -> int:
    """The object's ``format`` (:data:`LEGACY_FORMAT` when absent); a newer or malformed
    one raises :class:`RecordError` saying why it is refused."""
    fmt = obj.get("format", LEGACY_FORMAT)
    if not isinstance(fmt, int) or isinstance(fmt, bool) or fmt < LEGACY_FORMAT:
        raise RecordError(f"{what}: format must be a whole number >= {LEGACY_FORMAT}, "
                          f"got {fmt!r}")
    if fmt > FORMAT_VERSION:
        raise RecordError(f"{what}: format {fmt} is newer than this chaosharness reads "
                          f"({FORMAT_VERSION}); read it with the chaosharness that wrote it")
    return fmt


def opt_float(obj: Mapping[str, object], key: str, what: str) -> float | None:
    """A number (int or float, not bool) or None/absent."""
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RecordError(f"{what}: {key} must be a number, got {value!r}")
    return float(value)


def opt_int(obj: Mapping[str, object], key: str, what: str) -> int | None:
    """A whole number (not bool) or None/absent."""
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise RecordError(f"{what}: {key} must be a whole number, got {value!r}")
    return value


def opt_str(obj: Mapping[str, object], key: str, what: str) -> str | None:
    """A string or None/absent."""
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise RecordError(f"{what}: {key} must be a string, got {value!r}")
    return value


def opt_bool(obj: Mapping[str, object], key: str, what: str) -> bool | None:
    """true/false or None/absent."""
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise RecordError(f"{what}: {key} must be true or false, got {value!r}")
    return value


def opt_obj(obj: Mapping[str, object], key: str, what: str) -> dict[str, object] | None:
    """A JSON object or None/absent."""
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise RecordError(f"{what}: {key} must be an object, got {value!r}")
    return {str(k): v for k, v in value.items()}
