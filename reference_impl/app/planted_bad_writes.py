"""Two planted write bugs, the negative controls of the phantom and unexpected write checks.

- ``REFERENCE_IMPL_PLANT_REJECT_AFTER_COMMIT=N``: every N-th post that created a row
  answers ``422`` *after* the row committed (validation done after the write, a classic).
  The client takes a 4xx as a definite failure and does not retry; the row is there: the
  harness must count it as a **phantom write** (definitely failed, yet committed).
- ``REFERENCE_IMPL_PLANT_GHOST_WRITE=N``: every N-th post that created a row also writes
  a second row under a key the client never sent (``<key>.ghost``), as a double-submitting
  outbox or a buggy fan-out would. The harness must count it as an **unexpected write**
  (read back, never attempted).

Off by default (0); both profiles keep their behaviour unless a switch is set. Counting
is per process and only over posts that created a row, so replays of one key do not
shift which posts are chosen.
"""

from __future__ import annotations

__all__ = ["GHOST_SUFFIX", "EveryNth"]

#: What a ghost row's key is: the key the client sent, plus this.
GHOST_SUFFIX = ".ghost"


class EveryNth:
    """``hit()`` is True on the N-th, 2N-th, ... call (never when ``every`` is 0)."""

    def __init__(self, every: int) -> None:
        if every < 0:
            raise ValueError(f"every must be >= 0, got {every}")
        self.every = every
        self.calls = 0
        self.hits = 0

    def hit(self) -> bool:
        if not self.every:
            return False
        self.calls += 1
        if self.calls % self.every:
            return False
        self.hits += 1
        return True
