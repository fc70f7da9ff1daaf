"""The embedded Postgres provider against a real server: start, query, stop, crash recovery,
freeze/thaw, binaries lookup, and the user it runs as."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from pathlib import Path

import asyncpg
import psutil
import pytest

from harness.errors import FaultError, ProvisionError
from harness.provision.pg_binaries import find_pg_bin
from harness.provision.pg_external import DsnPostgres, docker_available
from harness.provision.pg_probe import can_query, execute, fetch
from harness.provision.postgres import EmbeddedPostgres, pg_run_user

pytestmark = pytest.mark.integration


def test_start_query_stop(tmp_path: Path) -> None:
    """A fresh server answers a query, its temp dir goes away at the end, fsync is on by default."""
    with EmbeddedPostgres(log_dir=tmp_path) as pg:
        assert fetch(pg.dsn, "select 40 + 2")[0][0] == 42
        assert fetch(pg.dsn, "show fsync")[0][0] == "on"
        assert fetch(pg.dsn, "show listen_addresses")[0][0] == "127.0.0.1"
        base = pg.base_dir
        assert base is not None and (base / "sock").is_dir()
        pg.stop("fast")
        assert pg.status() == "stopped" and not can_query(pg.dsn, timeout=0.5)
    assert not base.exists()


def test_keep_leaves_the_data_dir(tmp_path: Path) -> None:
    """With keep=True the data directory survives for inspection."""
    with EmbeddedPostgres(log_dir=tmp_path, fsync=False, keep=True) as pg:
        base = pg.base_dir
    assert base is not None and (base / "data" / "PG_VERSION").exists()

    shutil.rmtree(base)


def test_runs_as_unprivileged_user_when_root(postgres: EmbeddedPostgres) -> None:
    """Postgres refuses root: as root the server runs as postgres (or nobody); else as us."""
    assert postgres.pid is not None
    owner = psutil.Process(postgres.pid).username()
    expected = pg_run_user() or psutil.Process(os.getpid()).username()
    assert owner == expected
    if os.geteuid() == 0:
        assert owner in ("postgres", "nobody")


def test_crash_then_restart_keeps_committed_data(tmp_path: Path) -> None:
    """Provoke: SIGKILL of postmaster and backends. Must hold: committed rows survive recovery."""
    with EmbeddedPostgres(log_dir=tmp_path) as pg:
        execute(pg.dsn, "create table t (v int)")
        execute(pg.dsn, "insert into t select generate_series(1, 100)")
        backends = pg.backend_pids()
        pg.crash()
        assert pg.status() == "stopped"
        assert backends and not any(_running(p) for p in backends)
        pg.start()
        assert fetch(pg.dsn, "select count(*) from t")[0][0] == 100


def test_freeze_times_out_queries_and_thaw_lets_them_finish(postgres: EmbeddedPostgres) -> None:
    """Provoke: SIGSTOP of the server. Must hold: a query times out; after SIGCONT it answers."""
    postgres.freeze()
    try:
        assert postgres.status() == "frozen"
        with pytest.raises(TimeoutError):
            fetch(postgres.dsn, "select 1", timeout=0.5)
    finally:
        postgres.thaw()
    assert fetch(postgres.dsn, "select 1")[0][0] == 1


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def test_missing_binaries_say_how_to_install() -> None:
    """A wrong $PG_BIN is a clear error naming the fix."""
    with pytest.raises(ProvisionError, match="apt-get install postgresql"):
        find_pg_bin({"PG_BIN": "/nonexistent"})


def test_dsn_provider_refuses_process_faults(postgres: EmbeddedPostgres) -> None:
    """A server given by DSN answers, but stop/crash/freeze refuse and say why."""
    with DsnPostgres(postgres.dsn) as ext:
        for action in (lambda: ext.stop("fast"), ext.crash, ext.freeze):
            with pytest.raises(FaultError, match="given by DSN"):
                action()
    assert can_query(postgres.dsn)


def test_testcontainers_provider() -> None:
    """Postgres in a container when a Docker engine is reachable."""
    reason = docker_available()
    if reason:
        pytest.skip(f"testcontainers needs a Docker engine: {reason}")
    from harness.provision.pg_external import ContainerPostgres

    with ContainerPostgres() as pg:
        assert fetch(pg.dsn, "select 1")[0][0] == 1


def test_nobody_is_trusted_without_the_password(postgres: EmbeddedPostgres) -> None:
    """Provoke: connect as the superuser without the password, with a wrong one, and over the
    unix socket (where `trust` or peer would let any local user in). Must hold: each is refused
    with a password failure; the DSN (with the generated password) connects; pg_hba.conf has
    no `trust`; the password file is 0600 and outside any run directory."""
    port = postgres.port
    sock = postgres.data_dir.parent / "sock"
    refused = {
        "no password": f"postgresql://postgres@127.0.0.1:{port}/postgres",
        "wrong password": f"postgresql://postgres:not-it@127.0.0.1:{port}/postgres",
        "unix socket": f"postgresql://postgres@/postgres?host={sock}&port={port}",
    }
    for what, dsn in refused.items():
        with pytest.raises(asyncpg.InvalidPasswordError):
            fetch(dsn, "select 1")
        assert what
    assert len(postgres.password) >= 24 and postgres.password in postgres.dsn
    assert fetch(postgres.dsn, "select current_user")[0][0] == "postgres"
    hba = [line.split() for line in (postgres.data_dir / "pg_hba.conf").read_text().splitlines()
           if line.strip() and not line.startswith("#")]
    assert hba and all(line[-1] == "scram-sha-256" for line in hba), hba
    password_file = postgres.data_dir.parent / "password"
    assert stat.S_IMODE(password_file.stat().st_mode) == 0o600


def test_a_kept_data_dir_starts_again_with_its_password(tmp_path: Path) -> None:
    """A data dir kept from an earlier start (``--dir`` + ``--keep``) starts again: the
    password is read back from the base dir, not generated anew."""
    base = Path(tempfile.mkdtemp(prefix="chaosharness-kept-"))  # one Postgres' user can enter
    try:
        with EmbeddedPostgres(base_dir=base, log_dir=tmp_path, fsync=False, keep=True) as first:
            password = first.password
        with EmbeddedPostgres(base_dir=base, log_dir=tmp_path, fsync=False, keep=True) as again:
            assert again.password == password
            assert fetch(again.dsn, "select 1")[0][0] == 1
    finally:
        shutil.rmtree(base, ignore_errors=True)
