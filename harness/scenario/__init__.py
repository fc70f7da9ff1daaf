"""Scenario files: the schema, the loader, suites and durations.

``load_scenario(path, overrides)`` reads a TOML scenario into a frozen, fully resolved
:class:`Scenario` (every problem a :class:`~harness.errors.ScenarioError` naming the
file and key path); ``scenario_to_toml(scenario)`` (:mod:`.writer`) writes it back for the run directory;
``load_suite(path)`` reads a suite; ``list_scenarios(dir)`` lists scenario files.
"""

from harness.scenario.durations import format_duration, parse_duration
from harness.scenario.loader import OVERRIDABLE, load_scenario, loads_scenario
from harness.scenario.schema import (
    DEFAULT_MIX,
    DEFAULT_WRITES_SQL,
    TASKS,
    Fault,
    LoadSpec,
    ObserveSpec,
    PostgresSpec,
    ProxySpec,
    Repeat,
    Scenario,
    TargetSpec,
    VerifySpec,
)
from harness.scenario.suite import Suite, list_scenarios, list_suites, load_suite
from harness.scenario.writer import scenario_to_toml

__all__ = [
    "DEFAULT_MIX",
    "DEFAULT_WRITES_SQL",
    "OVERRIDABLE",
    "TASKS",
    "Fault",
    "LoadSpec",
    "ObserveSpec",
    "PostgresSpec",
    "ProxySpec",
    "Repeat",
    "Scenario",
    "Suite",
    "TargetSpec",
    "VerifySpec",
    "format_duration",
    "list_scenarios",
    "list_suites",
    "load_scenario",
    "load_suite",
    "loads_scenario",
    "parse_duration",
    "scenario_to_toml",
]
