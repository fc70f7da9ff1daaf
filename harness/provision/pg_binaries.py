"""Finding the PostgreSQL server binaries (initdb, postgres)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from harness.errors import ProvisionError

__all__ = ["find_pg_bin", "pg_version"]

_INSTALL_HINT = (
    "install the PostgreSQL server binaries (Debian/Ubuntu: `apt-get install postgresql`), "
    "or point $PG_BIN at the directory holding initdb and postgres"
)


def _has_server(bindir: Path) -> bool:
    return (bindir / "initdb").is_file() and (bindir / "postgres").is_file()


def _pg_config_bindir() -> Path | None:
    pg_config = shutil.which("pg_config")
    if pg_config is None:
        return None
    try:
        out = subprocess.run(
            [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return Path(out) if out else None


def _debian_bindirs() -> list[Path]:
    def major(p: Path) -> tuple[int, ...]:
        return tuple(int(x) for x in re.findall(r"\d+", p.parent.name)) or (0,)

    found = [p for p in Path("/usr/lib/postgresql").glob("*/bin") if _has_server(p)]
    return sorted(found, key=major, reverse=True)


def find_pg_bin(environ: dict[str, str] | None = None) -> Path:
    """The directory with ``initdb`` and ``postgres``.

    Looked up in order: ``$PG_BIN``, ``pg_config --bindir``, the highest
    ``/usr/lib/postgresql/*/bin``. Raises :class:`ProvisionError` saying how to
    install them when none is found.
    """
    env = os.environ if environ is None else environ
    explicit = env.get("PG_BIN")
    if explicit:
        path = Path(explicit)
        if _has_server(path):
            return path
        raise ProvisionError(f"$PG_BIN={explicit} has no initdb/postgres: {_INSTALL_HINT}")
    candidates = [c for c in [_pg_config_bindir()] if c is not None] + _debian_bindirs()
    for candidate in candidates:
        if _has_server(candidate):
            return candidate
    raise ProvisionError(f"PostgreSQL server binaries not found: {_INSTALL_HINT}")


def pg_version(bindir: Path) -> str:
    """The server version string, e.g. ``15.18``."""
    out = subprocess.run(
        [str(bindir / "postgres"), "--version"], capture_output=True, text=True, timeout=10
    ).stdout
    match = re.search(r"(\d+(?:\.\d+)+)", out)
    return match.group(1) if match else out.strip()
