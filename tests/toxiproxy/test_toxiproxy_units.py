"""Unit tests of the proxy's pure logic: the slicer's split, attribute parsing, address
parsing, and the channel's no-loss guarantees under cancellation."""

from __future__ import annotations

import asyncio
import random

import pytest

from harness.toxiproxy.address import split_host_port
from harness.toxiproxy.apierror import ApiError
from harness.toxiproxy.channel import Channel, Chunk
from harness.toxiproxy.toxics import (
    TOXIC_TYPES,
    parse_toxic_attributes,
    parse_toxic_header,
    slice_bounds,
)


def test_slicer_split_counts() -> None:
    """1/0 on 24 B gives 24 one-byte pieces; 480 KB at 1024 +/- 512 gives 240..720 pieces;
    pieces are contiguous, in order, and cover every byte."""
    assert slice_bounds(24, 1, 0, random.Random(1)) == [(i, i + 1) for i in range(24)]
    for seed in range(5):
        pieces = slice_bounds(480_000, 1024, 512, random.Random(seed))
        assert 240 <= len(pieces) <= 720
        assert pieces[0][0] == 0 and pieces[-1][1] == 480_000
        assert all(a[1] == b[0] for a, b in zip(pieces, pieces[1:], strict=False))
        assert all(0 < hi - lo <= 1536 for lo, hi in pieces)
    assert slice_bounds(100, 1, 50, random.Random(3))[-1][1] == 100  # variation > average ends


def test_attribute_parsing() -> None:
    """Every attribute of the type is present (0 when unset); updates keep absent keys; floats,
    strings, bools and out-of-int64 values are refused; negative bandwidth and slicer sizes <= 0
    are refused; negative latency is accepted."""
    assert parse_toxic_attributes("latency", {"latency": 5}) == {"latency": 5, "jitter": 0}
    assert parse_toxic_attributes("latency", {"jitter": 2}, {"latency": 9, "jitter": 1}) == {
        "latency": 9, "jitter": 2}
    assert parse_toxic_attributes("noop", None) == {}
    assert parse_toxic_attributes("latency", {"latency": -5})["latency"] == -5
    for bad in ({"latency": 1.0}, {"latency": "1"}, {"latency": True}, {"latency": 2**63}):
        with pytest.raises(ApiError) as caught:
            parse_toxic_attributes("latency", bad)
        assert caught.value.status == 400 and caught.value.message.startswith("bad request body")
    with pytest.raises(ApiError):
        parse_toxic_attributes("bandwidth", {"rate": -1})
    with pytest.raises(ApiError):
        parse_toxic_attributes("slicer", {"average_size": 0})
    with pytest.raises(ApiError):
        parse_toxic_attributes("latency", [1, 2])
    assert set(TOXIC_TYPES) == {"latency", "bandwidth", "slow_close", "timeout", "reset_peer",
                                "slicer", "limit_data", "noop"}


def test_toxic_header_defaults_and_order() -> None:
    """Defaults: downstream, 1.0, <type>_<stream>; stream is checked before type; an explicit
    empty stream is invalid."""
    toxic = parse_toxic_header({"type": "latency", "stream": "UPSTREAM"})
    assert (toxic.name, toxic.stream, toxic.toxicity) == ("latency_upstream", "upstream", 1.0)
    with pytest.raises(ApiError, match="stream was invalid"):
        parse_toxic_header({"type": "bogus", "stream": ""})
    with pytest.raises(ApiError, match="invalid toxic type"):
        parse_toxic_header({"type": "down"})


def test_split_host_port() -> None:
    """Go's SplitHostPort: brackets for v6, empty port is 0, errors name the address."""
    assert split_host_port("127.0.0.1:80") == ("127.0.0.1", 80)
    assert split_host_port("[::1]:5") == ("::1", 5)
    assert split_host_port("localhost:") == ("localhost", 0)
    for bad, why in (("nope", "missing port"), ("a:b:c", "too many colons"),
                     ("h:99999", "invalid port"), ("[::1", "missing ']'")):
        with pytest.raises(ValueError, match=why):
            split_host_port(bad)


def test_channel_cancelled_get_loses_nothing() -> None:
    """A get cancelled after an item arrived (but before it ran) leaves the item queued; a put
    over the limit is kept and wait_space waits; unget puts an item back in front."""

    async def scenario() -> None:
        channel = Channel(limit_bytes=4)
        getter = asyncio.ensure_future(channel.get())
        await asyncio.sleep(0)
        channel.put(Chunk(b"abc", 0.0))
        getter.cancel()
        await asyncio.gather(getter, return_exceptions=True)
        assert len(channel) == 1
        channel.put(Chunk(b"de", 0.0))
        assert channel.full()
        waiter = asyncio.ensure_future(channel.wait_space())
        await asyncio.sleep(0)
        assert not waiter.done()
        first = await channel.get()
        assert first is not None and first.data == b"abc"
        await asyncio.wait_for(waiter, 1)
        channel.unget(first)
        assert [c.data for c in channel.take_all() if c] == [b"abc", b"de"]
        with pytest.raises(TimeoutError):
            await channel.get(timeout=0.01)

    asyncio.run(scenario())
