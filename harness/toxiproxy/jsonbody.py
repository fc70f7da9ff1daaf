"""Request body decoding with the Go server's rules, so clients see the same 400s.

Go's ``encoding/json`` decodes the first JSON value of a body (trailing bytes
are ignored), ignores unknown fields, treats ``null`` as "leave the default",
and refuses a value of the wrong JSON type for a field: an integer field
refuses strings and non-integral numbers (even ``1000.0``), a float32 field
refuses values beyond its range. ``NaN``/``Infinity`` are not JSON.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from harness.toxiproxy.apierror import ApiError, bad_request

__all__ = [
    "INT64_MAX",
    "INT64_MIN",
    "as_object",
    "decode_json",
    "field_bool",
    "field_float32",
    "field_int64",
    "field_object",
    "field_str",
    "json_kind",
]

INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)
_FLOAT32_MAX = 3.4028234663852886e38
_DECODER = json.JSONDecoder(parse_constant=lambda name: _reject_constant(name))


def _reject_constant(name: str) -> Any:
    raise ValueError(f"invalid character '{name[:1]}' looking for beginning of value")


def decode_json(body: bytes) -> Any:
    """The first JSON value in ``body``; 400 ``bad request body: ...`` when there is none."""
    text = body.decode("utf-8", errors="replace").lstrip(" \t\r\n")
    if not text:
        raise bad_request("EOF")
    try:
        value, _end = _DECODER.raw_decode(text)
    except (ValueError, RecursionError) as exc:
        detail = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc) or "too deeply nested"
        raise bad_request(detail) from None
    return value


def json_kind(value: object) -> str:
    """The JSON type name Go uses in its unmarshal errors."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _type_error(value: object, where: str, go_type: str) -> ApiError:
    kind = json_kind(value)
    if kind == "number":
        kind = f"number {json.dumps(value)}"
    return bad_request(f"json: cannot unmarshal {kind} into Go struct field {where} of type {go_type}")


def field_str(obj: Mapping[str, Any], key: str, where: str, default: str = "") -> str:
    """A string field (``null`` or absent: ``default``)."""
    value = obj.get(key)
    if value is None:
        return default
    if not isinstance(value, str):
        raise _type_error(value, where, "string")
    return value


def field_bool(obj: Mapping[str, Any], key: str, where: str, default: bool) -> bool:
    """A boolean field (``null`` or absent: ``default``)."""
    value = obj.get(key)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise _type_error(value, where, "bool")
    return value


def field_float32(obj: Mapping[str, Any], key: str, where: str, default: float) -> float:
    """A float32 field (``null`` or absent: ``default``); out-of-range numbers are refused."""
    value = obj.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _type_error(value, where, "float32")
    try:
        result = float(value)
    except OverflowError:
        raise _type_error(value, where, "float32") from None
    if abs(result) > _FLOAT32_MAX:
        raise _type_error(value, where, "float32")
    return result


def field_int64(obj: Mapping[str, Any], key: str, where: str, default: int) -> int:
    """An int64 field (``null`` or absent: ``default``); floats, even integral ones, are refused."""
    value = obj.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not INT64_MIN <= value <= INT64_MAX:
        raise _type_error(value, where, "int64")
    return value


def field_object(obj: Mapping[str, Any], key: str, where: str, go_type: str) -> dict[str, object]:
    """An object field (``null`` or absent: ``{}``)."""
    value = obj.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _type_error(value, where, go_type)
    return value


def as_object(value: Any, go_type: str) -> dict[str, object]:
    """The whole body as an object (``null`` counts as ``{}``, as in Go)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        kind = json_kind(value)
        raise bad_request(f"json: cannot unmarshal {kind} into Go value of type {go_type}")
    return value
