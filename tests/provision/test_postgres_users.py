"""The provider works as root (Postgres then runs as an unprivileged user) and as a normal user
(Postgres runs as that user). The suite itself runs as one of the two; this test covers the
other where the machine allows it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from harness.provision.postgres import pg_run_user

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


def _system_python() -> str | None:
    """An interpreter an unprivileged user can execute, of the same version as ours."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    for candidate in (sys.executable, f"/usr/bin/{version}", shutil.which(version) or ""):
        if candidate and os.access(candidate, os.X_OK) and _world_executable(Path(candidate)):
            return candidate
    return None


def _world_executable(path: Path) -> bool:
    """Every directory on the way and the file itself let others in."""
    real = path.resolve()
    return all(p.stat().st_mode & 0o001 for p in [real, *real.parents])


def test_as_the_other_kind_of_user() -> None:
    """Provoke: as root, run `chaosharness postgres --check` as the unprivileged user. Must hold:
    exit 0 and `select 1 -> 1`, so the non-root path (no chown, no user switch) works too."""
    if os.geteuid() != 0:
        pytest.skip("the suite runs as a normal user here; the root path needs root to test")
    user = pg_run_user()
    python = _system_python()
    if python is None:
        pytest.skip("no Python interpreter that an unprivileged user may execute")
    site = sysconfig.get_paths()["purelib"]
    if not all(_world_executable(Path(p)) for p in (site, str(ROOT))):
        pytest.skip(f"{site} or {ROOT} is not readable by {user}")
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{ROOT}{os.pathsep}{site}", "HOME": "/tmp",
           "TMPDIR": "/tmp"}
    out = subprocess.run([python, "-m", "harness.cli", "postgres", "--check"], user=user,
                         capture_output=True, text=True, timeout=120, env=env, cwd="/tmp")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "select 1 -> 1" in out.stdout
