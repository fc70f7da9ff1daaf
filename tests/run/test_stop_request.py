"""Stop requests (harness/stop.py): the first signal only asks, a second forces, except inside a
shielded block (the fault rollback), where it waits for the block to end, bounded in time."""

from __future__ import annotations

import os
import signal
import time

import pytest

from harness.stop import StopRequest


def _signal_self(sig: int = signal.SIGINT) -> None:
    os.kill(os.getpid(), sig)
    time.sleep(0.05)  # the handler runs in the main thread at the next bytecode boundary


def test_first_signal_asks_and_second_forces() -> None:
    stop = StopRequest()
    with stop.installed():
        _signal_self(signal.SIGTERM)
        assert stop.event.is_set() and not stop.forced and stop.signal_name == "SIGTERM"
        with pytest.raises(KeyboardInterrupt):
            _signal_self()
    assert stop.forced


def test_a_forcing_signal_waits_for_the_shielded_block() -> None:
    """Provoke: both signals inside a shielded block. Must hold: the block runs to its end,
    then the KeyboardInterrupt is raised."""
    stop = StopRequest()
    done: list[str] = []
    with stop.installed(), pytest.raises(KeyboardInterrupt):
        with stop.shielded(5.0):
            _signal_self()
            _signal_self()
            done.append("rolled back")
    assert done == ["rolled back"]


def test_the_shield_is_bounded() -> None:
    """A forcing signal after the shield's bound raises at once."""
    stop = StopRequest()
    with stop.installed():
        _signal_self()
        with pytest.raises(KeyboardInterrupt), stop.shielded(0.05):
            time.sleep(0.1)
            _signal_self()
            pytest.fail("not reached")


def test_installations_nest_and_restore_the_handlers() -> None:
    """A run's installation inside a suite's restores the suite's handler, and the suite's the
    original one."""
    original = signal.getsignal(signal.SIGINT)
    suite = StopRequest()
    with suite.installed():
        with suite.installed():
            pass
        assert signal.getsignal(signal.SIGINT) == suite._handle
    assert signal.getsignal(signal.SIGINT) == original
