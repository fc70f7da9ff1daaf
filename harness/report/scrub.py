"""Keep secrets out of every report.

A report is pasted into PR comments and CI logs, so nothing it prints may carry a
DSN password or the admin token, even when an earlier stage slipped one into a
file (every writer of the run directory already redacts at the source with
:func:`harness.redact.redact`; a copied or older run directory may not have).
:class:`Scrubber` applies that same function once more, at both ends:

* :meth:`Scrubber.obj` walks loaded JSON and masks the value of every key that
  names a secret (:func:`harness.redact.is_secret_key`), remembering the masked values;
* :meth:`Scrubber.text` is applied to every rendered document: every secret form
  :func:`harness.redact.redact` knows, every secret registered for this process' runs,
  and every value remembered so far wherever else it appears.

A scrubber is created per rendering, optionally seeded with known secret values (the
admin token the conductor used, say).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

from harness.redact import MASK, MIN_LITERAL, is_secret_key, redact

__all__ = ["MASK", "Scrubber", "is_secret_key"]


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
        if isinstance(value, str) and len(value) >= MIN_LITERAL and value != MASK:
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
        return redact(text, self._literals)
