"""``chaosharness validate | list | proxy | app``: scenario files, catalogues, and single pieces."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from harness.brief import brief_text
from harness.errors import HarnessError

__all__ = ["add_parsers"]


def cmd_validate(args: argparse.Namespace) -> int:
    """``ok``/``FAIL`` per file; after an ``ok`` scenario, a ``warn`` line per SLO its target
    and load cannot feed (the run would not measure it, so it could not pass). Warnings
    do not change the exit code: the file is valid. Every file is checked whatever the
    ones before it held: the loader raises only ScenarioError, and anything else (a bug)
    is one ``FAIL`` line too, not a traceback that ends the command."""
    from harness.scenario.fault_timing import recovery_room_problem
    from harness.scenario.loader import load_scenario
    from harness.scenario.suite import load_suite
    from harness.verify.catalog import split_slo_id
    from harness.verify.measurable import unmeasurable

    failed = 0
    for path in args.files:
        try:
            if path.parent.name == "suites":
                suite = load_suite(path)
                print(f"ok   {path} (suite of {len(suite.scenarios)})")
                for item in suite.entries:  # what the suite's overrides leave unmeasured
                    extra = {"profile": item.profile} if item.profile else {}
                    shortened = load_scenario(item.path, {**suite.overrides_for(item.path),
                                                          **extra})
                    short = recovery_room_problem(shortened.faults, shortened.duration,
                                                  shortened.verify.recovery_window,
                                                  shortened.slos)
                    if short is not None:
                        print(f"warn {path}: {item.path.stem}: duration: {short} (judged, but "
                              "not in expect_fail)")
            else:
                scenario = load_scenario(path)
                print(f"ok   {path} ({scenario.name}: {len(scenario.faults)} faults, "
                      f"{len(scenario.slos)} SLOs)")
                for sid, reason in unmeasurable(scenario):
                    metric, phase = split_slo_id(sid)
                    print(f"warn {path}: slo.{phase}.{metric}: not measurable here: {reason}")
                short = recovery_room_problem(scenario.faults, scenario.duration,
                                              scenario.verify.recovery_window, scenario.slos)
                if short is not None:  # a negative control's SLO that does not decide it
                    print(f"warn {path}: duration: {short} (judged, but not in expect_fail)")
        except HarnessError as exc:
            failed += 1
            print(f"FAIL {exc}")
        except Exception as exc:  # noqa: BLE001 - one bad file must not stop the others
            failed += 1
            print(f"FAIL {path}: the harness failed on this file (a bug: please report it): "
                  f"{type(exc).__name__}: {brief_text(str(exc), 200)}")
    return 1 if failed else 0


def cmd_list(args: argparse.Namespace) -> int:
    from harness.faults.catalog import FAULTS
    from harness.scenario.loader import load_scenario
    from harness.scenario.suite import list_scenarios, list_suites, load_suite
    from harness.verify.catalog import EVIDENCE, METRICS

    directory = args.dir
    print("Scenarios:")
    for path in list_scenarios(directory):
        try:
            s = load_scenario(path)
            expect = " [negative control]" if s.expect == "fail" else ""
            print(f"  {path.stem:24} {s.description}{expect}")
        except HarnessError as exc:
            print(f"  {path.stem:24} INVALID: {exc}")
    print("Suites:")
    for path in list_suites(directory):
        suite = load_suite(path, validate=False)
        print(f"  {suite.name:24} {suite.description} ({len(suite.scenarios)} scenarios)")
    print("Fault actions:")
    for name, spec in FAULTS.items():
        params = ", ".join(spec.params) or "-"
        print(f"  {name:32} {spec.description} (params: {params}; for: {spec.window})")
    print("SLO metrics (needs: evidence kinds, below):")
    for name, metric in METRICS.items():
        needs = ", ".join(k for k in EVIDENCE if k in metric.needs)
        print(f"  {name:28} [{metric.unit}] {metric.description} (needs: {needs})")
    print("Evidence kinds:")
    for kind, evidence in EVIDENCE.items():
        print(f"  {kind:28} {evidence.what}: {evidence.source}")
    return 0


def passthrough(command: str, rest: list[str]) -> int:
    """``proxy`` and ``app`` hand their arguments to the piece's own command line."""
    if command == "proxy":
        from harness.toxiproxy.server import main as proxy_main

        code: int = proxy_main(rest)
        return code
    os.execv(sys.executable, [sys.executable, "-m", "reference_impl", *rest])
    return 2  # not reached: execv replaces this process


def cmd_proxy(args: argparse.Namespace) -> int:
    return passthrough("proxy", args.rest)


def cmd_app(args: argparse.Namespace) -> int:
    """Run the reference implementation in the foreground (its own CLI)."""
    return passthrough("app", args.rest)


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("validate", help="check scenario and suite files; errors name file and key")
    p.add_argument("files", nargs="+", type=Path)
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("list", help="scenarios, suites, fault actions and SLO metrics")
    p.add_argument("--dir", type=Path, default=Path("scenarios"))
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("proxy", help="run the embedded Toxiproxy-compatible server (args as its own)",
                       add_help=False)
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_proxy)

    p = sub.add_parser("app", help="run the reference implementation (python -m reference_impl ARGS)",
                       add_help=False)
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_app)
