"""A user's own locustfile (``[target] locustfile``), shipped to load workers on other hosts.

A worker on another host (``chaosharness load-worker``) has no shared disk with the run's
host, so the master sends the locustfile it runs together with the load config
(:mod:`harness.load.remote`): its file name, its text and the text's SHA-256. The master
reads the file once when it starts, so every worker runs the same bytes even if the file
changes during the run; the worker checks the hash, writes the file into a private
temporary directory under the same name and runs it.

Only that one file travels. A locustfile that imports a module sitting beside it (or in
a folder beside it) could not run on another host, so a run with remote workers refuses
it up front (:func:`unshippable_imports`, checked by the conductor before anything
starts) and says why, rather than leaving workers that fail to join. Imports done at run
time (``importlib``) and data files the locustfile opens are not seen by that check; they
are not shipped either (docs/scale-out.md). No locust import here.
"""

from __future__ import annotations

import ast
import hashlib
import sys
from dataclasses import dataclass
from importlib.machinery import PathFinder
from pathlib import Path

__all__ = ["MAX_LOCUSTFILE_BYTES", "ShippedLocustfile", "check_shippable", "unshippable_imports"]

#: A locustfile is code, not data: beyond this it is refused rather than sent in one message.
MAX_LOCUSTFILE_BYTES = 1 << 20


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ShippedLocustfile:
    """One locustfile as it travels: its base name, its text, the text's SHA-256 (hex)."""

    name: str
    text: str
    sha256: str

    @classmethod
    def read(cls, path: Path | str) -> ShippedLocustfile:
        """The file at ``path``, checked to be a shippable ``.py`` of at most 1 MiB."""
        path = Path(path)
        data = path.read_bytes()
        if len(data) > MAX_LOCUSTFILE_BYTES:
            raise ValueError(f"locustfile {path} is {len(data)} bytes, more than the "
                             f"{MAX_LOCUSTFILE_BYTES} a load worker is sent")
        text = data.decode("utf-8")
        return cls.checked(path.name, text, _sha256(text))

    @classmethod
    def checked(cls, name: str, text: str, sha256: str) -> ShippedLocustfile:
        """The file, once its name is a plain ``*.py`` base name and ``sha256`` matches."""
        if not name.endswith(".py") or Path(name).name != name or name.startswith(".") \
                or "\\" in name or "\x00" in name:
            raise ValueError(f"locustfile name {name!r} is not a plain *.py file name")
        if len(text.encode("utf-8")) > MAX_LOCUSTFILE_BYTES:
            raise ValueError(f"locustfile {name} is larger than {MAX_LOCUSTFILE_BYTES} bytes")
        actual = _sha256(text)
        if actual != sha256:
            raise ValueError(f"locustfile {name}: SHA-256 {actual} does not match the "
                             f"{sha256} the master sent")
        return cls(name, text, sha256)

    def to_message(self) -> dict[str, str]:
        """The JSON-ready form in the master's config answer."""
        return {"name": self.name, "text": self.text, "sha256": self.sha256}

    @classmethod
    def from_message(cls, data: object) -> ShippedLocustfile:
        """Read :meth:`to_message` back (ValueError when malformed or the hash is wrong)."""
        if not isinstance(data, dict) or not all(
                isinstance(data.get(k), str) for k in ("name", "text", "sha256")):
            raise ValueError("the master's locustfile is malformed: expected name, text and "
                             "sha256 strings")
        return cls.checked(data["name"], data["text"], data["sha256"])

    def write_into(self, directory: Path) -> Path:
        """Write the file into ``directory`` under its own name; returns its path."""
        path = directory / self.name
        path.write_text(self.text, encoding="utf-8")
        return path


def _imported_tops(tree: ast.AST) -> list[tuple[str, int]]:
    """(top-level module name, line) of every import; '.' for a relative one."""
    found: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name.split(".")[0], node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            top = "." if node.level else (node.module or "").split(".")[0]
            found.append((top, node.lineno))
    return found


def _installed(name: str, beside: Path) -> bool:
    """Whether ``name`` is importable from somewhere other than the locustfile's folder."""
    if name in sys.builtin_module_names or name in sys.stdlib_module_names:
        return True
    elsewhere = [p for p in sys.path if Path(p or ".").resolve() != beside]
    try:
        return PathFinder.find_spec(name, elsewhere) is not None
    except (ImportError, ValueError):
        return False


def unshippable_imports(path: Path | str) -> list[str]:
    """What ``path`` imports from beside itself (``name (line N)``), which a load worker on
    another host would not have: a module or package in the locustfile's folder that is not
    also installed, or a relative import. Empty when the file alone is enough."""
    path = Path(path).resolve()
    beside = path.parent
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    problems: list[str] = []
    for top, line in _imported_tops(tree):
        if top == ".":
            problems.append(f"a relative import (line {line})")
        elif top and ((beside / f"{top}.py").is_file() or (beside / top).is_dir()) \
                and not _installed(top, beside):
            problems.append(f"{top} (line {line})")
    return problems


def check_shippable(locustfile: str, expect_workers: int, file: str) -> None:
    """Refuse (ScenarioError on ``target.locustfile``) a user's locustfile that workers on
    other hosts could not run from the file alone; nothing to check without such workers."""
    from harness.errors import ScenarioError

    if not locustfile or expect_workers <= 0:
        return
    try:
        ShippedLocustfile.read(locustfile)
        beside = unshippable_imports(locustfile)
    except (OSError, ValueError, SyntaxError) as exc:
        raise ScenarioError(file, "target.locustfile", f"cannot be sent to load workers: "
                            f"{exc}") from None
    if beside:
        raise ScenarioError(file, "target.locustfile", (
            f"{Path(locustfile).name} imports {', '.join(beside)} from beside it; load workers "
            "on other hosts (expect_workers) are sent only the locustfile itself, not the files "
            "next to it: put that code into the locustfile, or install it as a package on "
            "this host and every load host"))
