"""One direction of a proxied connection: source socket -> chain of toxic stages -> dest socket.

With no toxics a link is *direct*: each read is written straight to the other
socket (no tasks, no queues, which is what keeps the proxy fast). The first
toxic turns it into a *chain*: a head stage (a noop that is never removed),
then one :class:`Stage` per toxic in creation order, joined by
:class:`~harness.toxiproxy.channel.Channel` s, then a writer task. When the
last toxic is gone and every queue is empty the link becomes direct again.

Changing the chain follows Toxiproxy's link: a stage is *interrupted* (its task
cancelled; a pipe holding a chunk puts it back), re-wired, and restarted, which
also redraws its toxicity. Removing stage ``i`` interrupts ``i`` and ``i-1``,
appends what waited at ``i``'s input to its output, and points ``i-1`` there:
no byte is lost or reordered (a ``timeout`` toxic that was acting closes the
connection instead, since it dropped data).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Mapping
from typing import Protocol

from harness.toxiproxy.channel import Channel, Chunk
from harness.toxiproxy.toxics import NOOP, TOXIC_TYPES, Toxic

__all__ = ["Endpoint", "Link", "Stage"]

log = logging.getLogger("harness.toxiproxy")

MAX_SLEEP_S = 365 * 86400.0
#: Event-loop timers run on a millisecond clock and fire on average half a millisecond
#: late (measured here: ``asyncio.sleep(0.02)`` takes 20.49 ms median on an idle uvloop,
#: 20.72 ms on the stdlib loop, spread evenly over the millisecond). Toxics wake that much
#: earlier, so their delays centre on what was asked instead of ~0.5 ms above it.
TIMER_LATENESS_S = 0.0005
INTERRUPT_BOUND_S = 1.0


class Endpoint(Protocol):
    """The socket side a link reads from (pause/resume) or writes to (write/close/drained)."""

    closed: bool

    def write(self, data: bytes) -> None: ...

    def close(self) -> None: ...

    async def drained(self) -> None: ...

    def set_paused(self, reason: str, paused: bool) -> None: ...


class Stage:
    """One toxic (or the head noop) of a link's chain, running its pipe in a task."""

    def __init__(self, link: Link, toxic: Toxic | None, input_: Channel, output: Channel) -> None:
        self.link = link
        self.toxic = toxic
        self.input = input_
        self.output = output
        self.state: dict[str, int] = {}  # survives restarts (limit_data's byte count)
        self.closed = False  # this stage has sent EOF on
        self.acting = False  # this run's toxicity draw said "act"
        self.dropped = False
        self.task: asyncio.Task[None] | None = None
        self.rng: random.Random = link.rng
        self.max_sleep = MAX_SLEEP_S

    # -- what pipes use ----------------------------------------------------------------

    async def recv(self, timeout: float | None = None) -> Chunk | None:
        """The next chunk, or ``None`` at end of stream."""
        return await self.input.get(timeout)

    def send(self, chunk: Chunk) -> None:
        """Hand ``chunk`` to the next stage (never blocks)."""
        self.output.put(chunk)

    def unget(self, item: Chunk | None) -> None:
        """Return a held item to the front of the input (the pipe is being interrupted)."""
        self.input.unget(item)

    async def flow(self) -> None:
        """Backpressure: wait while the next stage's queue is full."""
        await self.output.wait_space()

    def close(self) -> None:
        """Send end of stream on: the writer closes the destination socket."""
        if not self.closed:
            self.closed = True
            self.output.put(None)

    def reset_connection(self) -> None:
        """Abort both sockets with SO_LINGER 0 (the peers see ECONNRESET)."""
        self.closed = True
        self.link.reset()

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    async def sleep_until(self, when: float) -> None:
        delay = when - self.now() - TIMER_LATENESS_S
        if delay > 0:
            await asyncio.sleep(min(delay, self.max_sleep))

    async def hold_forever(self) -> None:
        await asyncio.get_running_loop().create_future()

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        if not self.link.dead:  # a chain change may finish after the connection ended
            self.task = asyncio.get_running_loop().create_task(self._run())

    async def interrupt(self) -> None:
        """Stop the pipe at its current ``await`` (bounded); held data goes back to the input."""
        task = self.task
        if task is None or task.done():
            return
        task.cancel()
        await asyncio.wait({task}, timeout=INTERRUPT_BOUND_S)

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()

    async def _run(self) -> None:
        try:
            if not self.closed:
                toxic = self.toxic
                self.acting = toxic is not None and self.rng.random() < toxic.toxicity
                if toxic is not None and self.acting:
                    await TOXIC_TYPES[toxic.type].pipe(self, toxic.attributes)
                else:
                    await NOOP.pipe(self, {})
            while await self.input.get() is not None:  # closed: discard what still comes
                pass
        except asyncio.CancelledError:
            return
        except Exception:  # a bug in a pipe must not stall the connection silently
            log.exception("toxic %s failed; closing the connection", self.toxic)
            self.close()


class Link:
    """One direction (``upstream`` = client -> server, ``downstream`` = back) of a connection."""

    def __init__(
        self,
        direction: str,
        source: Endpoint,
        dest: Endpoint,
        rng: random.Random,
        reset: Callable[[], None],
        counters: list[int] | None = None,
    ) -> None:
        self.direction = direction
        self.counters = counters if counters is not None else [0, 0]  # bytes received, sent
        self.source = source
        self.dest = dest
        self.rng = rng
        self.reset = reset
        self.stages: list[Stage] = []
        self.out: Channel | None = None
        self.finished = False
        self.dead = False  # the connection is gone: start no more tasks
        self._eof = False
        self._writer: asyncio.Task[None] | None = None
        self._writer_busy = False
        self._lock = asyncio.Lock()

    # -- data path ----------------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        """Bytes read from the source socket."""
        counters = self.counters
        counters[0] += len(data)
        stages = self.stages
        if stages:
            if len(stages) == 1 and self._chain_idle():
                self._drop_chain()
            else:
                head = stages[0].input
                head.put(Chunk(data, asyncio.get_running_loop().time()))
                if head.full():
                    self.source.set_paused("chain", True)
                return
        counters[1] += len(data)
        self.dest.write(data)

    def feed_eof(self) -> None:
        """The source socket reached end of stream (or was lost)."""
        if self._eof:
            return
        self._eof = True
        if self.stages:
            self.stages[0].input.put(None)
        else:
            self._finish()

    def _finish(self) -> None:
        if not self.finished:
            self.finished = True
            self.dest.close()

    async def _write_loop(self, out: Channel) -> None:
        while True:
            chunk = await out.get()
            if chunk is None:
                break
            self.counters[1] += len(chunk.data)
            self.dest.write(chunk.data)
            self._writer_busy = True
            try:
                await self.dest.drained()
            finally:
                self._writer_busy = False
        self._finish()

    # -- chain management -------------------------------------------------------------

    def start(self, toxics: list[Toxic]) -> None:
        """Build the chain for the toxics present when the connection opens."""
        if toxics:
            self._build_chain(toxics)

    def _build_chain(self, toxics: list[Toxic]) -> None:
        out = Channel()
        head = Stage(self, None, Channel(on_low=self._chain_low), out)
        self.stages, self.out = [head], out
        if self.dead:
            return
        for toxic in toxics:
            channel = Channel()
            self.stages[-1].output = channel
            self.stages.append(Stage(self, toxic, channel, out))
        for stage in self.stages:
            stage.start()
        self._writer = asyncio.get_running_loop().create_task(self._write_loop(out))

    def _chain_low(self) -> None:
        self.source.set_paused("chain", False)

    def _chain_idle(self) -> bool:
        head = self.stages[0]
        return (
            not self._lock.locked()
            and not head.closed
            and not self._eof
            and not len(head.input)
            and self.out is not None
            and not len(self.out)
            and not self._writer_busy
        )

    def _drop_chain(self) -> None:
        for stage in self.stages:
            stage.cancel()
        if self._writer is not None:
            self._writer.cancel()
        self.stages, self.out, self._writer = [], None, None
        self.source.set_paused("chain", False)

    def _index(self, name: str) -> int | None:
        for index, stage in enumerate(self.stages):
            if stage.toxic is not None and stage.toxic.name == name:
                return index
        return None

    async def add_toxic(self, toxic: Toxic) -> None:
        """Append ``toxic`` to the live chain (the last stage restarts to re-wire its output)."""
        async with self._lock:
            if self.finished:
                return
            if not self.stages:
                self._build_chain([toxic])
                return
            last = self.stages[-1]
            await last.interrupt()
            channel = Channel()
            stage = Stage(self, toxic, channel, last.output)
            last.output = channel
            self.stages.append(stage)
            stage.start()
            last.start()

    async def update_toxic(self, toxic: Toxic) -> None:
        """Restart the toxic's stage with new attributes/toxicity (its state is kept)."""
        async with self._lock:
            index = self._index(toxic.name)
            if index is None:
                return
            stage = self.stages[index]
            await stage.interrupt()
            stage.toxic = toxic
            stage.start()

    async def remove_toxic(self, name: str) -> None:
        """Take the toxic out of the live chain, forwarding what it held, in order."""
        async with self._lock:
            index = self._index(name)
            if index is None:
                return
            stage, prev = self.stages[index], self.stages[index - 1]
            await stage.interrupt()
            await prev.interrupt()
            waiting = stage.input.take_all()
            assert stage.toxic is not None
            if stage.closed:
                pass  # it already ended the stream; what waited would have been discarded
            elif TOXIC_TYPES[stage.toxic.type].closes_on_removal and stage.acting:
                stage.close()  # bytes were dropped: the connection cannot continue
            else:
                stage.output.extend(waiting)
            prev.output = stage.output
            del self.stages[index]
            prev.start()

    def cancel_tasks(self) -> None:
        """Stop every task of this link (the connection is gone)."""
        self.dead = True
        for stage in self.stages:
            stage.cancel()
        if self._writer is not None:
            self._writer.cancel()

    def describe(self) -> Mapping[str, object]:
        """Debug view: mode and queued bytes per stage."""
        return {
            "direction": self.direction,
            "mode": "chain" if self.stages else "direct",
            "queued_bytes": [s.input.nbytes for s in self.stages],
        }
