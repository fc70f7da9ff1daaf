"""The console script: exit codes and output of the commands that need no run."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _cli(*args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("chaosharness") or str(ROOT / ".venv" / "bin" / "chaosharness")
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def test_version_and_help() -> None:
    """--version prints the version; no command prints the help and exits 2."""
    out = _cli("--version")
    assert out.returncode == 0 and "chaosharness 0." in out.stdout
    bare = _cli()
    assert bare.returncode == 2 and "COMMAND" in bare.stdout


def test_list_names_scenarios_suites_faults_and_metrics() -> None:
    """`list` iterates the registries: every scenario file, suite, fault action and SLO metric."""
    out = _cli("list")
    assert out.returncode == 0, out.stderr
    for name in ("db-restart", "naive-db-freeze", "smoke", "nightly", "seed-metrics",
                 "postgres.freeze", "network.latency", "app.kill", "lost_writes", "availability"):
        assert name in out.stdout, name


def test_validate_reports_file_and_key(tmp_path: Path) -> None:
    """A wrong scenario gives exit 1 and a message naming the file, the key and the expectation."""
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "bad"\nduration = "30s"\n[[fault]]\nat = "45s"\naction = "postgres.restart"\n')
    out = _cli("validate", str(bad), str(ROOT / "scenarios" / "db-restart.toml"))
    assert out.returncode == 1
    assert "bad.toml: fault[0].at" in out.stdout and "ok   " in out.stdout


@pytest.mark.integration
def test_postgres_check() -> None:
    """`postgres --check` starts an embedded server, runs select 1, stops, exits 0."""
    out = _cli("postgres", "--check")
    assert out.returncode == 0, out.stderr
    assert "select 1 -> 1" in out.stdout


def test_proxy_help_passes_through() -> None:
    """`proxy ARGS` is the embedded proxy's own command line."""
    out = _cli("proxy", "--help")
    assert out.returncode == 0 and "--populate-toxics" in out.stdout


def test_a_run_that_cannot_be_carried_out_exits_2(tmp_path: Path) -> None:
    """Postgres binaries missing: exit code 2, a message that says how to install them, and a run
    directory that records the failure."""
    exe = shutil.which("chaosharness") or str(ROOT / ".venv" / "bin" / "chaosharness")
    env = {**os.environ, "PG_BIN": str(tmp_path / "no-such-bin")}
    out = subprocess.run([exe, "run", str(ROOT / "tests" / "run" / "scenarios" / "short.toml"),
                          "--reports", str(tmp_path), "--quiet"],
                         capture_output=True, text=True, timeout=120, cwd=ROOT, env=env)
    assert out.returncode == 2, out.stdout + out.stderr
    assert "apt-get install postgresql" in out.stderr
    run_json = next(tmp_path.glob("*-short/run.json"))
    assert '"status": "failed"' in run_json.read_text()
