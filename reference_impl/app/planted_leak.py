"""The planted leak: a real, recognisable allocation site for the memory detectors.

With ``REFERENCE_IMPL_PLANT_LEAK=1`` every posted message is also appended to
``KEPT`` and never released. This is a deliberate module-level list: the
negative control of the memory checks must find *this* file and line in the
tracemalloc diffs (the harness' leak scenario expects ``planted_leak.py``).
"""

from __future__ import annotations

from typing import Any

__all__ = ["KEPT", "keep"]

KEPT: list[tuple[str, dict[str, Any]]] = []


def keep(text: str, ack: dict[str, Any]) -> None:
    """Keep a copy of the message for ever (the leak)."""
    KEPT.append((text * 4, dict(ack)))
