"""The numbered SQL migration files: found, paired with their down files, checksummed.

A migration is ``NNN_name.sql`` with its undo in ``NNN_name.down.sql`` next to
it, in ``reference_impl/migrations/``. The checksum is the SHA-256 of the up
file's bytes: an applied migration whose file changed afterwards is caught by
comparing it with the checksum recorded when it ran.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from reference_impl.db.errors import MigrationError

__all__ = ["MIGRATIONS_DIR", "Migration", "latest_version", "load_migrations"]

#: Where the service's own migrations live.
MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"

_UP = re.compile(r"^(?P<version>\d{3})_(?P<name>[a-z0-9_]+)\.sql$")
_DOWN = re.compile(r"^(?P<version>\d{3})_(?P<name>[a-z0-9_]+)\.down\.sql$")


@dataclass(frozen=True)
class Migration:
    """One migration: its version (``"002"``), name, SQL both ways and the up file's checksum."""

    version: str
    name: str
    up_sql: str
    down_sql: str | None
    checksum: str
    path: Path

    @property
    def number(self) -> int:
        return int(self.version)

    @property
    def label(self) -> str:
        """``002_fix_node_columns``: how messages name it."""
        return f"{self.version}_{self.name}"


def checksum_of(sql: bytes) -> str:
    """SHA-256 hex digest of a migration file's bytes."""
    return hashlib.sha256(sql).hexdigest()


def load_migrations(directory: Path | None = None) -> list[Migration]:
    """Every migration in ``directory`` (default :data:`MIGRATIONS_DIR`), in version order.

    Raises :class:`MigrationError` for a file that does not follow the naming
    scheme, two files with one version, or a down file without its up file.
    """
    directory = directory or MIGRATIONS_DIR
    if not directory.is_dir():
        raise MigrationError(f"migrations directory {directory} does not exist")
    ups: dict[str, Path] = {}
    downs: dict[str, Path] = {}
    for path in sorted(directory.glob("*.sql")):
        down = _DOWN.match(path.name)
        up = _UP.match(path.name)
        if down:
            downs[down["version"]] = path
        elif up:
            if up["version"] in ups:
                raise MigrationError(
                    f"two migrations with version {up['version']}: "
                    f"{ups[up['version']].name} and {path.name}",
                    up["version"],
                )
            ups[up["version"]] = path
        else:
            raise MigrationError(
                f"{path}: not a migration file name (expected NNN_name.sql or NNN_name.down.sql)"
            )
    for version, path in downs.items():
        if version not in ups:
            raise MigrationError(f"{path.name}: down migration without its up file", version)
    return [_read(ups[v], downs.get(v)) for v in sorted(ups, key=int)]


def _read(up_path: Path, down_path: Path | None) -> Migration:
    match = _UP.match(up_path.name)
    assert match is not None
    raw = up_path.read_bytes()
    return Migration(
        version=match["version"],
        name=match["name"],
        up_sql=raw.decode("utf-8"),
        down_sql=down_path.read_text("utf-8") if down_path else None,
        checksum=checksum_of(raw),
        path=up_path,
    )


def latest_version(migrations: list[Migration]) -> str | None:
    """The highest version among ``migrations`` (``None`` when there are none)."""
    return migrations[-1].version if migrations else None
