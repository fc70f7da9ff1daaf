"""Suites (``scenarios/suites/*.toml``) and listing the scenarios in a directory.

A suite file::

    name = "smoke"
    description = "a few short scenarios, including a negative control"
    scenarios = ["db-restart", "naive-db-restart"]     # names in the scenario dir, or paths
                                                        # (relative to this file's directory)

    [overrides.soak]                                    # per scenario name
    duration = "1h"

An entry ``"db-restart@naive"`` runs that scenario with the given profile as a
*comparison* run: it is measured and reported (the "before" column of a
before/after table) but does not gate the suite's exit code.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from harness.brief import brief
from harness.errors import ScenarioError
from harness.scenario.fields import Table, did_you_mean_text, type_name
from harness.scenario.loader import OVERRIDABLE, load_scenario, read_toml
from harness.scenario.schema import PROFILES

__all__ = ["Suite", "SuiteEntry", "list_scenarios", "list_suites", "load_suite"]


@dataclass(frozen=True)
class SuiteEntry:
    """One run of a suite: a scenario file, and the profile of a comparison run (or None)."""

    path: Path
    profile: str | None = None

    @property
    def gating(self) -> bool:
        """Whether this run's verdict counts towards the suite's exit code."""
        return self.profile is None


@dataclass(frozen=True)
class Suite:
    """A named, ordered list of scenario files with per-scenario overrides."""

    name: str
    description: str
    scenarios: list[Path]
    overrides: Mapping[str, Mapping[str, object]] = field(default_factory=dict)
    source: Path | None = field(default=None, compare=False)
    entries: tuple[SuiteEntry, ...] = ()

    def overrides_for(self, scenario: Path) -> Mapping[str, object]:
        """The overrides for one of the suite's scenario files (by its stem)."""
        return self.overrides.get(scenario.stem, {})


def list_scenarios(directory: Path | str) -> list[Path]:
    """The scenario files in ``directory`` (not its suites), sorted by name."""
    return sorted(p for p in Path(directory).glob("*.toml") if p.is_file())


def list_suites(directory: Path | str) -> list[Path]:
    """The suite files in ``directory/suites``, sorted by name."""
    return sorted(p for p in (Path(directory) / "suites").glob("*.toml") if p.is_file())


def _candidates(entry: str, suite_path: Path) -> list[Path]:
    """Where an entry may be: a name in the scenario directory (the suite directory's
    parent), or a path relative to the suite file's directory; never the working
    directory, so a suite means the same wherever it is run from."""
    if Path(entry).is_absolute():
        return [Path(entry)]
    scenario_dir = suite_path.parent.parent
    named = [] if entry.endswith(".toml") else [scenario_dir / f"{entry}.toml"]
    return [*named, suite_path.parent / entry, scenario_dir / entry]


def load_suite(path: Path | str, validate: bool = True) -> Suite:
    """The suite in ``path``; names resolve in the scenario directory (the suite directory's
    parent), relative paths against the suite file's directory, never the working directory.
    With ``validate`` every scenario is loaded with its overrides."""
    path = Path(path)
    file = str(path)
    top = Table(file, "", read_toml(path), ("name", "description", "scenarios", "overrides"))
    entries = top.str_list("scenarios")
    if not entries:
        raise top.error("scenarios", "expected a non-empty array of scenario names")
    scenarios: list[Path] = []
    suite_entries: list[SuiteEntry] = []
    for i, raw_entry in enumerate(entries):
        entry, _, profile = raw_entry.partition("@")
        if profile and profile not in PROFILES:
            raise ScenarioError(file, f"scenarios[{i}]", f"unknown profile {brief(profile)} in "
                                f"{brief(raw_entry)}" + did_you_mean_text(profile, PROFILES))
        candidates = _candidates(entry, path)
        found = next((Path(os.path.normpath(c)) for c in candidates if c.is_file()), None)
        if found is None:
            known = [p.stem for p in list_scenarios(path.parent.parent)]
            looked = ", ".join(str(c) for c in candidates)
            raise ScenarioError(file, f"scenarios[{i}]", f"no scenario file {brief(entry)} "
                                f"(looked for {looked})" + did_you_mean_text(entry, known))
        scenarios.append(found)
        suite_entries.append(SuiteEntry(found, profile or None))
    overrides = _parse_overrides(top, {p.stem for p in scenarios})
    suite = Suite(name=top.str_("name", path.stem), description=top.str_("description", ""),
                  scenarios=scenarios, overrides=overrides, source=path,
                  entries=tuple(suite_entries))
    if validate:
        for i, item in enumerate(suite.entries):
            extra = {"profile": item.profile} if item.profile else {}
            given = {**suite.overrides_for(item.path), **extra}
            try:
                load_scenario(item.path, given)
            except ScenarioError as exc:
                if not given:
                    raise
                shown = ", ".join(f"{k} = {brief(v)}" for k, v in given.items())
                raise ScenarioError(file, f"scenarios[{i}]", f"{entries[i]} with this suite's "
                                    f"overrides ({shown}): {exc}") from None
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
