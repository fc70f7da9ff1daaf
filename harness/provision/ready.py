"""Bounded waiting: ready means a real probe passed before a deadline."""

from __future__ import annotations

import time
from collections.abc import Callable

from harness.errors import HarnessError, ProvisionError

__all__ = ["wait_until"]


def wait_until(
    predicate: Callable[[], bool],
    timeout: float,
    *,
    what: str = "condition",
    interval: float = 0.05,
    on_timeout: Callable[[], str] | None = None,
) -> float:
    """Poll ``predicate`` every ``interval`` seconds until it is true.

    Returns the seconds it took. Raises :class:`ProvisionError` after
    ``timeout`` seconds, with ``on_timeout()`` (e.g. a child's log tail) as the
    evidence. A predicate that raises counts as false, except a :class:`HarnessError`: that
    is the predicate's way to say waiting is pointless (the child exited), and it propagates.
    """
    start = time.monotonic()
    deadline = start + timeout
    while True:
        try:
            if predicate():
                return time.monotonic() - start
        except HarnessError:
            raise
        except Exception:  # noqa: BLE001 - a probe that fails is simply not ready yet
            pass
        if time.monotonic() >= deadline:
            tail = on_timeout() if on_timeout else ""
            raise ProvisionError(f"{what} not ready within {timeout:.1f}s", output_tail=tail)
        time.sleep(interval)
