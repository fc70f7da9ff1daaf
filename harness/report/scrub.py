"""Keep secrets out of every report.

A report is pasted into PR comments and CI logs, so nothing it prints may carry a
DSN password or the admin token, even when an earlier stage slipped one into a
file. :class:`Scrubber` works at both ends:

* :meth:`Scrubber.obj` walks loaded JSON and masks the value of every key that
  names a secret (``token``, ``password``, ``secret``, ``authorization``, ...),
  remembering the masked values;
* :meth:`Scrubber.text` is applied to every rendered document and masks DSN
  passwords (``postgresql://user:PASSWORD@``), ``Bearer`` credentials,
  ``key=value`` / ``--key value`` / ``"key": "value"`` pairs of secret keys, and
  every secret value remembered so far wherever else it appears.

A scrubber is created per rendering (no module state), optionally seeded with
known secret values (the admin token the conductor used, say).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["MASK", "Scrubber", "is_secret_key"]

#: What a secret is replaced with.
MASK = "***"

_SECRET_KEY = re.compile(
    r"(token|passw(or)?d|pwd|secret|authorization|api[_-]?key|credential)", re.IGNORECASE
)
# scheme://user:password@host -> scheme://user:***@host
_DSN_PASSWORD = re.compile(r"(?P<head>\b[a-zA-Z][\w+.-]*://[^:/@\s\"'<>]*:)(?P<pw>[^@\s\"'<>]+)@")
_BEARER = re.compile(r"(?P<head>\b(?:Bearer|Basic|Token)\s+)(?P<pw>[A-Za-z0-9._~+/=-]+)")
_NAME = r"[\w.-]*(?:token|passw(?:or)?d|pwd|secret|authorization|api[_-]?key|credential)[\w.-]*"
# "admin_token": "abc"  |  'token': 'abc'
_JSON_PAIR = re.compile(
    rf"(?P<head>[\"']{_NAME}[\"']\s*:\s*[\"'])(?P<pw>[^\"']+)(?=[\"'])", re.IGNORECASE
)
# ADMIN_TOKEN=abc  |  --admin-token=abc  |  --admin-token abc  |  password: abc
# (a bare "token never" in prose is left alone: only flags take a space separator)
_FLAG_PAIR = re.compile(
    rf"(?P<head>(?<![\w\"'-])(?:--?{_NAME}(?:=|\s+)|{_NAME}(?:=|:[ \t]*)))"
    r"(?P<pw>(?!\*\*\*|Bearer\b|Basic\b|Token\b)[^\s\"'<>&,;]+)",
    re.IGNORECASE,
)
# Values shorter than this are not replaced by literal search (too likely to be ordinary text).
_MIN_LITERAL = 6


def is_secret_key(key: str) -> bool:
    """Whether a mapping key names a secret (``admin_token``, ``PGPASSWORD``, ...)."""
    return bool(_SECRET_KEY.search(key))


class Scrubber:
    """Masks secrets in loaded data and in rendered text; remembers what it masked."""

    def __init__(self, secrets: Iterable[str] = (), *, from_environ: bool = True) -> None:
        self._literals: set[str] = set()
        for value in secrets:
            self.remember(value)
        if from_environ:
            for key, value in os.environ.items():
                if is_secret_key(key):
                    self.remember(value)

    def remember(self, value: object) -> None:
        """Mask this value wherever it appears from now on (if it is long enough)."""
        if isinstance(value, str) and len(value) >= _MIN_LITERAL and value != MASK:
            self._literals.add(value)

    def obj(self, value: Any) -> Any:
        """A copy of JSON-like ``value`` with secret keys masked and strings scrubbed."""
        if isinstance(value, Mapping):
            out: dict[Any, Any] = {}
            for key, item in value.items():
                if isinstance(key, str) and is_secret_key(key) and item is not None:
                    if isinstance(item, str | int | float):
                        self.remember(str(item))
                        out[key] = MASK
                        continue
                out[key] = self.obj(item)
            return out
        if isinstance(value, list | tuple):
            return [self.obj(item) for item in value]
        if isinstance(value, str):
            return self.text(value)
        return value

    def text(self, text: str) -> str:
        """``text`` with every known secret pattern and remembered value masked."""
        for literal in sorted(self._literals, key=len, reverse=True):
            if literal in text:
                text = text.replace(literal, MASK)
        text = _DSN_PASSWORD.sub(lambda m: f"{m['head']}{MASK}@", text)
        text = _BEARER.sub(lambda m: f"{m['head']}{MASK}", text)
        text = _JSON_PAIR.sub(lambda m: f"{m['head']}{MASK}", text)
        return _FLAG_PAIR.sub(lambda m: f"{m['head']}{MASK}", text)
