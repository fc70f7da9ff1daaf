"""The package's public surface: everything in ``__all__`` exists, and every name a
submodule exports is re-exported by the package (one place to import from)."""

from __future__ import annotations

import importlib

import reference_impl.resilience as resilience

SUBMODULES = ("breaker", "error_boundary", "errors", "health_monitor", "memory_monitor", "retry",
              "sqlstate", "startup", "task_manager")


def test_all_names_exist() -> None:
    """No name in __all__ is missing from the package."""
    missing = [name for name in resilience.__all__ if not hasattr(resilience, name)]
    assert missing == []


def test_submodule_exports_are_reexported() -> None:
    """Each submodule's __all__ is covered by the package's __all__."""
    exported = set(resilience.__all__)
    for name in SUBMODULES:
        module = importlib.import_module(f"reference_impl.resilience.{name}")
        public = set(module.__all__)
        assert public <= exported, (name, sorted(public - exported))
