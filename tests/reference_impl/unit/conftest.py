"""Fixtures for the resilience core's unit tests: a fake monotonic clock."""

from __future__ import annotations

import pytest
from resilience_fakes import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
