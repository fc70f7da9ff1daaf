"""The run directory: where it goes, and ``run.json``, the run's self-description.

See docs/run-directory.md for every file a run writes. ``run.json``
(:class:`~harness.records.RunInfo`) is rewritten as the run moves on (``running`` ->
``complete`` / ``incomplete`` / ``failed``), so a run cut short still says what it got to.
"""

from __future__ import annotations

import json
import os
import platform
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from harness import __version__
from harness.records import RunInfo
from harness.redact import redact_obj, write_private

__all__ = ["RunRecord", "host_facts", "new_run_dir", "utc_stamp", "versions"]


def utc_stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


def new_run_dir(reports_dir: Path, scenario: str) -> Path:
    """A new ``<reports_dir>/<utc-timestamp>-<scenario>`` (suffixed if it exists)."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", scenario).strip("-") or "scenario"
    base = reports_dir / f"{utc_stamp()}-{safe}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    reports_dir.mkdir(parents=True, exist_ok=True)
    path.mkdir(mode=0o700)  # only its owner: the logs are the children's own output
    os.chmod(path, 0o700)  # whatever the umask
    return path


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def versions(postgres: str = "") -> dict[str, object]:
    return {
        "chaosharness": __version__,
        "python": platform.python_version(),
        "locust": _version("locust"),
        "asyncpg": _version("asyncpg"),
        "fastapi": _version("fastapi"),
        "uvicorn": _version("uvicorn"),
        "postgres": postgres or None,
    }


def host_facts() -> dict[str, object]:
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        memory = 0
    return {"platform": platform.platform(), "machine": platform.machine(),
            "cpus": os.cpu_count(), "memory_bytes": memory, "hostname": platform.node()}


@dataclass
class RunRecord:
    """run.json on disk: its :class:`~harness.records.RunInfo`; :meth:`save` writes it
    atomically, redacted (:func:`harness.redact.redact_obj`: an error quoting a command line
    keeps no password) and readable by its owner only. Change ``info`` then save."""

    path: Path
    info: RunInfo = field(default_factory=RunInfo)

    def save(self) -> None:
        tmp = self.path.with_suffix(".json.tmp")
        write_private(tmp, json.dumps(redact_obj(self.info.to_json()), indent=2, default=str)
                      + "\n")
        tmp.replace(self.path)
