"""Suites (``scenarios/suites/*.toml``) and listing the scenarios in a directory.

A suite file::

    name = "smoke"
    description = "a few short scenarios, including a negative control"
    scenarios = ["db-restart", "naive-db-restart"]     # names in the scenario dir, or paths

    [overrides.soak]                                    # per scenario name
    duration = "1h"
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import ScenarioError
from harness.scenario.fields import Table, did_you_mean_text, type_name
from harness.scenario.loader import OVERRIDABLE, load_scenario, read_toml

__all__ = ["Suite", "list_scenarios", "list_suites", "load_suite"]


@dataclass(frozen=True)
class Suite:
    """A named, ordered list of scenario files with per-scenario overrides."""

    name: str
    description: str
    scenarios: list[Path]
    overrides: Mapping[str, Mapping[str, object]] = field(default_factory=dict)
    source: Path | None = field(default=None, compare=False)

    def overrides_for(self, scenario: Path) -> Mapping[str, object]:
        """The overrides for one of the suite's scenario files (by its stem)."""
        return self.overrides.get(scenario.stem, {})


def list_scenarios(directory: Path | str) -> list[Path]:
    """The scenario files in ``directory`` (not its suites), sorted by name."""
    return sorted(p for p in Path(directory).glob("*.toml") if p.is_file())


def list_suites(directory: Path | str) -> list[Path]:
    """The suite files in ``directory/suites``, sorted by name."""
    return sorted(p for p in (Path(directory) / "suites").glob("*.toml") if p.is_file())


def _resolve(entry: str, suite_path: Path) -> Path | None:
    candidates = [Path(entry)] if entry.endswith(".toml") else []
    scenario_dir = suite_path.parent.parent
    candidates += [scenario_dir / f"{entry}.toml", scenario_dir / entry,
                   suite_path.parent / entry]
    return next((c for c in candidates if c.is_file()), None)


def load_suite(path: Path | str, validate: bool = True) -> Suite:
    """The suite in ``path``; entries resolve against the scenario directory (the suite
    directory's parent). With ``validate`` every scenario is loaded with its overrides."""
    path = Path(path)
    file = str(path)
    top = Table(file, "", read_toml(path), ("name", "description", "scenarios", "overrides"))
    entries = top.str_list("scenarios")
    if not entries:
        raise top.error("scenarios", "expected a non-empty array of scenario names")
    scenarios: list[Path] = []
    for i, entry in enumerate(entries):
        found = _resolve(entry, path)
        if found is None:
            known = [p.stem for p in list_scenarios(path.parent.parent)]
            raise ScenarioError(file, f"scenarios[{i}]", f"no scenario file {entry!r}"
                                + did_you_mean_text(entry, known))
        scenarios.append(found)
    overrides = _parse_overrides(top, {p.stem for p in scenarios})
    suite = Suite(name=top.str_("name", path.stem), description=top.str_("description", ""),
                  scenarios=scenarios, overrides=overrides, source=path)
    if validate:
        for scenario in scenarios:
            load_scenario(scenario, suite.overrides_for(scenario))
    return suite


def _parse_overrides(top: Table, names: set[str]) -> dict[str, dict[str, object]]:
    raw = top.data.get("overrides", {})
    if not isinstance(raw, dict):
        raise top.error("overrides",
                        f"expected tables [overrides.<scenario>], got {type_name(raw)}")
    result: dict[str, dict[str, object]] = {}
    for name, table in raw.items():
        if name not in names:
            raise ScenarioError(top.file, f"overrides.{name}", "not a scenario of this suite"
                                + did_you_mean_text(name, names))
        t = Table(top.file, f"overrides.{name}", table, tuple(OVERRIDABLE))
        result[name] = dict(t.data)
    return result
