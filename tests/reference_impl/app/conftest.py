"""Fixtures of the reference app's integration tests: databases and supervisors that live
for a whole module (starting the app costs about a second), and a Postgres of our own
for the tests that stop, restart or crash it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from app_proc import create_database, drop_database

from harness.provision.postgres import EmbeddedPostgres
from harness.provision.process import Supervisor


@pytest.fixture(scope="module")
def module_supervisor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Supervisor]:
    """A supervisor for processes shared by the tests of one module."""
    with Supervisor(tmp_path_factory.mktemp("app-logs")) as sup:
        yield sup


@pytest.fixture(scope="module")
def module_db(postgres: EmbeddedPostgres) -> Iterator[str]:
    """A database shared by the tests of one module (on the session's Postgres)."""
    dsn = create_database(postgres)
    try:
        yield dsn
    finally:
        drop_database(postgres, dsn)


@pytest.fixture(scope="session")
def own_postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    """A Postgres only the app's fault tests use, so they may stop, restart and crash it
    (each test leaves it running)."""
    log_dir: Path = tmp_path_factory.mktemp("own-postgres")
    with EmbeddedPostgres(log_dir=log_dir, fsync=False, max_connections=100) as pg:
        yield pg
