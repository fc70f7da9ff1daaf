"""The toxic catalogue: one entry per type, with its attributes, checks and behaviour.

Each behaviour is a *pipe*: a coroutine that reads chunks from its stage's input
and hands them on, as Toxiproxy's ``Pipe(stub)`` does. A pipe may be interrupted
(its task cancelled) at any ``await`` when the chain changes; a pipe holding a
chunk at that moment puts it back with ``stage.unget`` so nothing is lost or
reordered (the restarted pipe, or the splice that removes the toxic, carries it
on). Times are loop times (``loop.time()``, monotonic); a chunk's ``stamp`` is
when it is due, so latency toxics do not add up across chunks but do add up
when chained (each moves the stamp on to its own release time).

``TOXIC_TYPES`` is the one registry: the API, the CLI's listing, the tests and the
fault catalogue's ``network.*`` parameters (``harness.faults.catalog``) iterate it.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from harness.toxiproxy.apierror import INVALID_STREAM, INVALID_TOXIC_TYPE, ApiError, bad_request
from harness.toxiproxy.channel import Chunk
from harness.toxiproxy.jsonbody import (
    INT64_MAX,
    field_float32,
    field_int64,
    field_object,
    field_str,
)

__all__ = [
    "ABSENT",
    "DEFAULT_STREAM",
    "DEFAULT_TOXICITY",
    "STREAMS",
    "TOXIC_TYPES",
    "PipeStage",
    "Toxic",
    "ToxicAttribute",
    "ToxicType",
    "merge_toxic_update",
    "parse_toxic_attributes",
    "parse_toxic_header",
    "slice_bounds",
]

STREAMS = ("upstream", "downstream")
DEFAULT_STREAM = "downstream"
DEFAULT_TOXICITY = 1.0
#: The value of an attribute a create request leaves out: Go's zero value, for every attribute.
ABSENT = 0


class PipeStage(Protocol):
    """What a pipe may use of its stage (:class:`harness.toxiproxy.link.Stage` is the one
    implementation). Declared here, below the link, so the toxics need not import it."""

    #: Per-stage state that survives the pipe's restarts (limit_data's byte count).
    state: dict[str, int]
    rng: random.Random
    #: Set when the pipe drops data on the floor (timeout, reset_peer).
    dropped: bool

    async def recv(self, timeout: float | None = None) -> Chunk | None: ...

    def send(self, chunk: Chunk) -> None: ...

    def unget(self, item: Chunk | None) -> None: ...

    async def flow(self) -> None: ...

    def close(self) -> None: ...

    def reset_connection(self) -> None: ...

    def now(self) -> float: ...

    async def sleep_until(self, when: float) -> None: ...

    async def hold_forever(self) -> None: ...


Pipe = Callable[[PipeStage, Mapping[str, int]], Awaitable[None]]


@dataclass(frozen=True)
class ToxicAttribute:
    """One attribute of a toxic type: an int64, ``ABSENT`` when not given.

    ``minimum`` is the smallest value accepted (``None``: any int64, as the Go server takes;
    a negative wait means no wait). It is set only where the Go server would crash or loop.
    ``maximum`` is the largest: the JSON field is an int64 (:func:`field_int64` refuses
    more). The fault catalogue builds its ``network.*`` parameters from these.
    """

    name: str
    unit: str
    meaning: str
    minimum: int | None = None
    maximum: int = INT64_MAX

    def problem(self, value: int) -> str | None:
        """Why ``value`` is refused, or None."""
        if value > self.maximum:
            return f"{self.name} must be at most {self.maximum}"
        if self.minimum is None or value >= self.minimum:
            return None
        if self.minimum == 0:
            return f"{self.name} must not be negative"
        if self.minimum == 1:
            return f"{self.name} must be greater than 0"
        return f"{self.name} must be at least {self.minimum}"


@dataclass(frozen=True)
class ToxicType:
    """One kind of toxic: its attributes (all int64), its pipe, and what it does."""

    name: str
    attributes: tuple[ToxicAttribute, ...]
    pipe: Pipe
    description: str
    closes_on_removal: bool = False

    @property
    def attribute_names(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.attributes)


@dataclass
class Toxic:
    """A toxic as the API shows it: every attribute of its type is present, as an integer."""

    name: str
    type: str
    stream: str
    toxicity: float = 1.0
    attributes: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        """The Toxiproxy JSON shape."""
        return {
            "attributes": dict(self.attributes),
            "name": self.name,
            "type": self.type,
            "stream": self.stream,
            "toxicity": self.toxicity,
        }


# -- pipes -------------------------------------------------------------------------


async def _noop(stage: PipeStage, _attrs: Mapping[str, int]) -> None:
    while True:
        chunk = await stage.recv()
        if chunk is None:
            stage.close()
            return
        stage.send(chunk)
        await stage.flow()


async def _latency(stage: PipeStage, attrs: Mapping[str, int]) -> None:
    latency, jitter = attrs["latency"], attrs["jitter"]
    while True:
        chunk = await stage.recv()
        if chunk is None:
            stage.close()
            return
        delay_ms = latency + (stage.rng.randrange(2 * jitter) - jitter if jitter > 0 else 0)
        release = chunk.stamp + delay_ms / 1000.0
        try:
            await stage.sleep_until(release)
        except asyncio.CancelledError:
            stage.unget(chunk)
            raise
        chunk.stamp = max(chunk.stamp, release)
        stage.send(chunk)
        await stage.flow()


async def _bandwidth(stage: PipeStage, attrs: Mapping[str, int]) -> None:
    rate = attrs["rate"]  # KB/s, 1 KB = 1000 B, so bytes per millisecond
    if rate <= 0:
        await stage.hold_forever()  # rate 0 stalls; the data waits in the input channel
    slice_bytes = rate * 100  # what 100 ms carries
    next_free = stage.now()
    while True:
        chunk = await stage.recv()
        if chunk is None:
            stage.close()
            return
        data, due = chunk.data, max(stage.now(), next_free)
        while data:
            piece, data = data[:slice_bytes], data[slice_bytes:]
            due += len(piece) / (rate * 1000.0)
            try:
                await stage.sleep_until(due)
            except asyncio.CancelledError:
                stage.unget(Chunk(piece + data, chunk.stamp))
                raise
            stage.send(Chunk(piece, chunk.stamp))
        next_free = due
        await stage.flow()


async def _slow_close(stage: PipeStage, attrs: Mapping[str, int]) -> None:
    while True:
        chunk = await stage.recv()
        if chunk is None:
            try:
                await stage.sleep_until(stage.now() + attrs["delay"] / 1000.0)
            except asyncio.CancelledError:
                stage.unget(None)
                raise
            stage.close()
            return
        stage.send(chunk)
        await stage.flow()


async def _timeout(stage: PipeStage, attrs: Mapping[str, int]) -> None:
    timeout_s = attrs["timeout"] / 1000.0
    while True:
        if timeout_s > 0:
            try:
                chunk = await stage.recv(timeout=timeout_s)
            except TimeoutError:
                stage.close()
                return
        else:
            chunk = await stage.recv()
        if chunk is None:
            stage.close()
            return
        stage.dropped = True  # the data is dropped on the floor


async def _reset_peer(stage: PipeStage, attrs: Mapping[str, int]) -> None:
    await stage.recv()  # the first data or EOF; it is dropped
    stage.dropped = True
    await stage.sleep_until(stage.now() + attrs["timeout"] / 1000.0)
    stage.reset_connection()


async def _slicer(stage: PipeStage, attrs: Mapping[str, int]) -> None:
    average, variation, delay_us = attrs["average_size"], attrs["size_variation"], attrs["delay"]
    while True:
        chunk = await stage.recv()
        if chunk is None:
            stage.close()
            return
        for index, (lo, hi) in enumerate(slice_bounds(len(chunk.data), average, variation, stage.rng)):
            if index and delay_us > 0:
                try:
                    await stage.sleep_until(stage.now() + delay_us / 1e6)
                except asyncio.CancelledError:
                    stage.unget(Chunk(chunk.data[lo:], chunk.stamp))
                    raise
            stage.send(Chunk(chunk.data[lo:hi], chunk.stamp))
        await stage.flow()


async def _limit_data(stage: PipeStage, attrs: Mapping[str, int]) -> None:
    limit = attrs["bytes"]
    while True:
        chunk = await stage.recv()
        if chunk is None:
            stage.close()
            return
        sent = stage.state.get("bytes_sent", 0)
        remaining = max(limit - sent, 0)
        data = chunk.data[:remaining]
        if data:
            stage.send(Chunk(data, chunk.stamp))
            stage.state["bytes_sent"] = sent + len(data)
            remaining -= len(data)
        if remaining <= 0:
            stage.close()
            return
        await stage.flow()


def slice_bounds(size: int, average: int, variation: int, rng: random.Random) -> list[tuple[int, int]]:
    """Split ``[0, size)`` as Toxiproxy's slicer does: halve (midpoint +/- a random variation)
    until every piece is at most ``average + variation`` bytes. Pieces are in order and cover
    every byte; a midpoint is kept strictly inside its segment so splitting always ends."""
    pieces: list[tuple[int, int]] = []
    stack = [(0, size)]
    while stack:
        lo, hi = stack.pop()
        if hi - lo <= max(average + variation, 1):
            if hi > lo:
                pieces.append((lo, hi))
            continue
        mid = lo + (hi - lo) // 2
        if variation > 0:
            mid += rng.randrange(2 * variation) - variation
        mid = min(max(mid, lo + 1), hi - 1)
        stack.append((mid, hi))
        stack.append((lo, mid))
    return pieces


_A = ToxicAttribute

TOXIC_TYPES: Mapping[str, ToxicType] = {
    t.name: t
    for t in (
        ToxicType("latency", (_A("latency", "ms", "added delay"),
                              _A("jitter", "ms", "random +/- variation of the delay")),
                  _latency, "delays each chunk by latency +/- jitter ms"),
        ToxicType("bandwidth", (_A("rate", "KB/s", "throughput limit, 1 KB = 1000 B", minimum=0),),
                  _bandwidth, "limits throughput to rate KB/s (0 stalls)"),
        ToxicType("slow_close", (_A("delay", "ms", "delay before the close is passed on"),),
                  _slow_close, "delays the close by delay ms"),
        ToxicType("timeout", (_A("timeout", "ms", "time without data until the close, 0 = never"),),
                  _timeout, "drops data; closes after timeout ms without data (0: holds forever)",
                  closes_on_removal=True),
        ToxicType("reset_peer", (_A("timeout", "ms", "wait before the reset"),),
                  _reset_peer, "on the first data, waits timeout ms then resets the connection (RST)"),
        ToxicType("slicer", (_A("average_size", "bytes", "average slice size", minimum=1),
                             _A("size_variation", "bytes", "slice size variation", minimum=0),
                             _A("delay", "us", "delay between slices")),
                  _slicer,
                  "splits chunks into pieces of average_size +/- size_variation B, delay us apart"),
        ToxicType("limit_data", (_A("bytes", "bytes", "data let through per connection and direction"),),
                  _limit_data, "closes the connection after bytes B in this direction"),
        ToxicType("noop", (), _noop, "passes data unchanged"),
    )
}

NOOP = TOXIC_TYPES["noop"]


# -- parsing -------------------------------------------------------------------------


def parse_toxic_header(body: Mapping[str, Any]) -> Toxic:
    """Name, type, stream and toxicity of a new toxic, with Toxiproxy's defaults and check order
    (JSON types, then stream, then type). Attributes are parsed separately, after the caller has
    checked the name is free, because that is the order the Go server answers in."""
    where = "ToxicWrapper"
    name = field_str(body, "name", f"{where}.name")
    type_ = field_str(body, "type", f"{where}.type")
    stream_text = field_str(body, "stream", f"{where}.stream", default=DEFAULT_STREAM)
    toxicity = field_float32(body, "toxicity", f"{where}.toxicity", default=DEFAULT_TOXICITY)
    field_object(body, "attributes", f"{where}.attributes", "toxics.NoopToxic")
    stream = stream_text.lower()
    if stream not in STREAMS:
        raise ApiError(400, INVALID_STREAM)
    if type_ not in TOXIC_TYPES:
        raise ApiError(400, INVALID_TOXIC_TYPE)
    return Toxic(name=name or f"{type_}_{stream}", type=type_, stream=stream, toxicity=toxicity)


def parse_toxic_attributes(
    type_name: str, raw: Any, current: Mapping[str, int] | None = None
) -> dict[str, int]:
    """Every attribute of ``type_name`` as an int64: from ``raw`` where given, else ``current``
    (an update), else ``ABSENT``. Wrong types and values below an attribute's minimum (those the
    Go server would crash or loop on) are 400, checked in attribute order."""
    kind = TOXIC_TYPES[type_name]
    go_type = f"{type_name.title().replace('_', '')}Toxic"
    attrs_in = field_object({"attributes": raw}, "attributes", "ToxicWrapper.attributes", f"toxics.{go_type}")
    attrs: dict[str, int] = {}
    for attr in kind.attributes:
        key = attr.name
        default = (current or {}).get(key, ABSENT)
        attrs[key] = field_int64(attrs_in, key, f"{go_type}.attributes.{key}", default)
    for attr in kind.attributes:
        problem = attr.problem(attrs[attr.name])
        if problem is not None:
            raise bad_request(problem)
    return attrs


def merge_toxic_update(toxic: Toxic, body: Mapping[str, Any]) -> Toxic:
    """The toxic after an update: only ``toxicity`` (kept if absent) and ``attributes`` (absent
    keys kept) change; name, type and stream are fixed. Validated before anything changes."""
    toxicity = field_float32(body, "toxicity", "toxicity", default=toxic.toxicity)
    attrs = parse_toxic_attributes(toxic.type, body.get("attributes"), toxic.attributes)
    return Toxic(toxic.name, toxic.type, toxic.stream, toxicity, attrs)
