"""The planted write loss: a write-behind buffer that acknowledges before it commits.

With ``REFERENCE_IMPL_PLANT_WRITE_BEHIND=1`` a posted message is answered 201 as soon
as it is in a buffer of this process, and a background task writes the buffer to the
store every ``FLUSH_EVERY_S`` (300 ms). A SIGKILL between the acknowledgement and the
next flush loses every buffered write: acknowledged, never committed. This is the
negative control of the harness' write accounting (``scenarios/planted-write-loss.toml``
expects ``lost_writes`` to fail with the lost keys named). Off by default; both
profiles keep their behaviour unless the switch is set.

What it still does right, so that only the planted fault shows: the route asks the
store first (not ready -> 503, never an acknowledgement); a replay of a buffered key
answers its acknowledgement again (200) and another body under it is a conflict (409);
a flush that finds the database unavailable keeps the write and tries again; a
graceful shutdown flushes what is left (:meth:`WriteBehind.close`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from reference_impl.app.store import NotReady, Store
from reference_impl.db.errors import DatabaseUnavailable, IdempotencyConflict

__all__ = ["FLUSH_EVERY_S", "WriteBehind"]

log = logging.getLogger("reference_impl.planted")
#: How long an acknowledged write may sit in the buffer before it is committed.
FLUSH_EVERY_S = 0.3
#: Flush attempts a write gets when the store fails it for another reason than being
#: unavailable (then it is dropped and logged, so one bad write cannot wedge the buffer).
MAX_ATTEMPTS = 20

Spawn = Callable[[Coroutine[Any, Any, Any], str], "asyncio.Task[Any]"]


@dataclass
class _Pending:
    room: str
    session_id: str
    text: str
    key: str
    body_hash: str
    ack: dict[str, Any]
    attempts: int = 0


class WriteBehind:
    """Acknowledge now, commit within ``flush_every_s`` (see the module docstring)."""

    def __init__(self, store: Callable[[], Store], spawn: Spawn,
                 flush_every_s: float = FLUSH_EVERY_S) -> None:
        self._store = store
        self._spawn = spawn
        self.flush_every_s = flush_every_s
        self.buffer: dict[str, _Pending] = {}
        self.acknowledged = 0
        self.flushed = 0
        self.dropped = 0
        self._task: asyncio.Task[Any] | None = None
        self._lock = asyncio.Lock()

    def post(self, room: str, session_id: str, text: str, key: str,
             body_hash: str) -> tuple[dict[str, Any], bool]:
        """({id, key, room, created_at}, created) at once; the row is written later.

        ``id`` is ``None``: the row does not exist yet (that is the fault)."""
        self._store()  # not ready -> NotReady -> 503: only a serving app acknowledges
        pending = self.buffer.get(key)
        if pending is not None:
            if pending.body_hash != body_hash:
                raise IdempotencyConflict(key, pending.body_hash, body_hash)
            return dict(pending.ack), False
        ack = {"id": None, "key": key, "room": room,
               "created_at": datetime.now(UTC).isoformat()}
        self.buffer[key] = _Pending(room, session_id, text, key, body_hash, ack)
        self.acknowledged += 1
        if self._task is None or self._task.done():
            self._task = self._spawn(self._flush_forever(), "planted-write-behind")
        return dict(ack), True

    async def _flush_forever(self) -> None:
        while True:
            await asyncio.sleep(self.flush_every_s)
            await self.flush()

    async def flush(self) -> int:
        """Write the buffer to the store, oldest first; the number committed. A write the
        database cannot take now stays buffered (and so does every later one)."""
        async with self._lock:
            done = 0
            for key, pending in list(self.buffer.items()):
                try:
                    store = self._store()
                    await store.post_message(pending.room, pending.session_id, pending.text,
                                             pending.key, pending.body_hash)
                except (NotReady, DatabaseUnavailable):
                    break  # try again at the next flush
                except Exception as exc:  # noqa: BLE001 - the buffer must keep flushing
                    pending.attempts += 1
                    if pending.attempts < MAX_ATTEMPTS:
                        break
                    log.warning("planted write-behind dropped key %s: %s", key, exc)
                    self.buffer.pop(key, None)
                    self.dropped += 1
                    continue
                self.buffer.pop(key, None)
                done += 1
            self.flushed += done
            return done

    async def close(self, timeout_s: float) -> None:
        """A graceful stop: end the flusher and flush what is left, bounded by ``timeout_s``."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        with contextlib.suppress(asyncio.TimeoutError, Exception):
            await asyncio.wait_for(self.flush(), timeout_s)
        if self.buffer:
            log.warning("planted write-behind: %d acknowledged writes never committed",
                        len(self.buffer))

    def stats(self) -> dict[str, Any]:
        return {"buffered": len(self.buffer), "acknowledged": self.acknowledged,
                "flushed": self.flushed, "dropped": self.dropped,
                "flush_every_s": self.flush_every_s}
