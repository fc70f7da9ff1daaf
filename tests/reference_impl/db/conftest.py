"""Fixtures of the database-layer tests: a fully migrated database, and a private Postgres
for the tests that stop or freeze the server (the session server is shared)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.provision.postgres import EmbeddedPostgres
from reference_impl.db.migrate import migrate_up


@pytest.fixture
def migrated_db(fresh_db: str) -> str:
    """``fresh_db`` with every migration applied (the resilient profile's schema)."""
    asyncio.run(asyncio.wait_for(migrate_up(fresh_db), 30))
    return fresh_db


@pytest.fixture(scope="module")
def own_pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    """A Postgres of this module alone, free to be stopped, started and frozen."""
    log_dir: Path = tmp_path_factory.mktemp("own-pg-logs")
    with EmbeddedPostgres(log_dir=log_dir, fsync=False) as pg:
        yield pg
