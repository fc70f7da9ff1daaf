"""The planted write loss and connection leak, on a real loop with fake stores and connections;
and that both are off unless switched on."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import pytest

from reference_impl.app.planted_connection_leak import ConnectionLeak
from reference_impl.app.planted_write_behind import WriteBehind
from reference_impl.app.store import NotReady
from reference_impl.config import load_config
from reference_impl.db.errors import DatabaseUnavailable, IdempotencyConflict

DSN = "postgresql://app@127.0.0.1:5432/app"


class FakeStore:
    """Records committed keys; ``down`` makes it unavailable, ``ready`` False not ready."""

    def __init__(self) -> None:
        self.committed: list[str] = []
        self.down = False
        self.ready = True

    async def post_message(self, room: str, session_id: str, text: str, key: str,
                           body_hash: str) -> tuple[dict[str, Any], bool]:
        if self.down:
            raise DatabaseUnavailable("unreachable")
        self.committed.append(key)
        return {"id": len(self.committed), "key": key, "room": room}, True


def _spawn(tasks: list[asyncio.Task[Any]]) -> Any:
    def spawn(coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        tasks.append(task)
        return task

    return spawn


def _store_of(fake: FakeStore) -> Any:
    def store() -> Any:
        if not fake.ready:
            raise NotReady("starting")
        return fake

    return store


def test_switches_are_off_by_default_and_parsed_from_the_environment() -> None:
    """Neither planted fault is on unless its variable is set."""
    config = load_config({}, {"DATABASE_URL": DSN})
    assert (config.plant_write_behind, config.plant_connection_leak) == (False, 0)
    assert config.plant_connection_leak_max == 30
    config = load_config({}, {"DATABASE_URL": DSN, "REFERENCE_IMPL_PLANT_WRITE_BEHIND": "1",
                              "REFERENCE_IMPL_PLANT_CONNECTION_LEAK": "5",
                              "REFERENCE_IMPL_PLANT_CONNECTION_LEAK_MAX": "3"})
    assert (config.plant_write_behind, config.plant_connection_leak,
            config.plant_connection_leak_max) == (True, 5, 3)


def test_write_behind_acknowledges_before_it_commits() -> None:
    """An acknowledged write is not in the store until the next flush; a replay answers the
    same ack, another body under the key is a conflict; an unavailable store keeps the write
    buffered; not ready refuses before acknowledging."""

    async def scenario() -> None:
        fake, tasks = FakeStore(), []
        behind = WriteBehind(_store_of(fake), _spawn(tasks), flush_every_s=0.05)
        ack, created = behind.post("r", "s", "t", "k1", "h1")
        assert created and ack["key"] == "k1" and ack["id"] is None
        assert fake.committed == []  # acknowledged, not committed: the planted fault
        assert behind.post("r", "s", "t", "k1", "h1") == (ack, False)
        with pytest.raises(IdempotencyConflict):
            behind.post("r", "s", "other", "k1", "h2")
        await asyncio.sleep(0.15)
        assert fake.committed == ["k1"] and not behind.buffer
        fake.down = True
        behind.post("r", "s", "t", "k2", "h2")
        await asyncio.sleep(0.15)
        assert list(behind.buffer) == ["k2"]
        fake.down = False
        await behind.close(1.0)
        assert fake.committed == ["k1", "k2"] and behind.stats()["flushed"] == 2
        fake.ready = False
        with pytest.raises(NotReady):
            behind.post("r", "s", "t", "k3", "h3")
        assert "k3" not in behind.buffer

    asyncio.run(scenario())


def test_connection_leak_keeps_one_per_n_requests_up_to_the_cap() -> None:
    """Every 3rd request opens a connection that is kept; never more than the cap; a failed
    open is counted, not kept."""

    async def scenario() -> None:
        opened: list[object] = []
        fail = False

        async def connect() -> object:
            if fail:
                raise OSError("refused")
            conn = object()
            opened.append(conn)
            return conn

        tasks: list[asyncio.Task[Any]] = []
        leak = ConnectionLeak(3, 4, connect, _spawn(tasks))
        for _ in range(8):
            leak.on_request()
        await asyncio.gather(*tasks)
        assert len(leak.kept) == 2 and leak.kept == opened
        for _ in range(30):
            leak.on_request()
        await asyncio.gather(*tasks)
        assert len(leak.kept) == 4 and leak.stats()["cap"] == 4
        fail, leak.cap = True, 5
        for _ in range(3):
            leak.on_request()
        await asyncio.gather(*tasks)
        assert len(leak.kept) == 4 and leak.failed == 1 and leak.opening == 0

    asyncio.run(scenario())
