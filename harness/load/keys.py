"""Seeded, per-user randomness and write keys, so a replay makes the same keys.

Each Locust user gets its own generator seeded from (seed, worker index, user index):
the order in which users run is up to the scheduler, but each user's sequence of
tasks, think times and write keys is a pure function of the seed. No locust import.
"""

from __future__ import annotations

import random
from collections.abc import Mapping

__all__ = ["TaskPicker", "WriteKeys", "user_rng"]


def user_rng(seed: int, worker: int, user: int) -> random.Random:
    """The generator of one user (str seeds hash with SHA-512: stable across runs)."""
    return random.Random(f"chaosharness:{seed}:{worker}:{user}")


class WriteKeys:
    """Fresh Idempotency-Keys for one user: ``k<seed>-<worker>-<user>-<n>``.

    Unique across users and Locust processes of one run, identical on a replay with the
    same seed; short and ASCII, so any service accepts them as a header.
    """

    def __init__(self, seed: int, worker: int, user: int) -> None:
        self._prefix = f"k{seed}-{worker}-{user}-"
        self._n = 0

    def next(self) -> str:
        """The next key of this user."""
        self._n += 1
        return f"{self._prefix}{self._n:06d}"


class TaskPicker:
    """Weighted choice among task names with one user's generator."""

    def __init__(self, mix: Mapping[str, int], rng: random.Random) -> None:
        self.names = [name for name, weight in mix.items() if weight > 0]
        self._cum: list[int] = []
        total = 0
        for name in self.names:
            total += mix[name]
            self._cum.append(total)
        if not self.names:
            raise ValueError(f"task mix has no task with a weight > 0: {dict(mix)}")
        self._rng = rng

    def next(self) -> str:
        """The next task name."""
        pick = self._rng.choices(self.names, cum_weights=self._cum)
        return pick[0]
