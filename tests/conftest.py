"""Shared fixtures: a real embedded Postgres for the session, a fresh database per test,
and a supervisor per test whose children are stopped (by pid) when the test ends."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.provision.pg_probe import execute
from harness.provision.postgres import EmbeddedPostgres
from harness.provision.process import Supervisor

_db_counter = itertools.count(1)


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    """One embedded Postgres for the whole session (fsync off: these tests do not crash it)."""
    log_dir = tmp_path_factory.mktemp("postgres-logs")
    with EmbeddedPostgres(log_dir=log_dir, fsync=False, max_connections=200) as pg:
        yield pg


@pytest.fixture
def fresh_db(postgres: EmbeddedPostgres) -> Iterator[str]:
    """A DSN to a new, empty database, dropped (with its connections) after the test."""
    name = f"t{next(_db_counter)}_{id(postgres) % 10000}"
    execute(postgres.dsn, f'create database "{name}"')
    try:
        yield postgres.dsn_for(name)
    finally:
        execute(postgres.dsn, f'drop database if exists "{name}" with (force)')


@pytest.fixture
def supervisor(tmp_path: Path) -> Iterator[Supervisor]:
    """A supervisor whose children are all stopped when the test ends."""
    with Supervisor(tmp_path / "logs") as sup:
        yield sup
