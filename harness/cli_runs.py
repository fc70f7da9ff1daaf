"""``chaosharness run | suite | replay | verify | report | compare``: the pipeline's commands.

Each returns the exit code: 0 every verdict as expected, 1 one was not, 2 the
run could not be carried out. Heavy modules are imported when a command runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from harness import exitcodes
from harness.errors import VerifyError
from harness.records import ResultRecord

__all__ = ["add_parsers"]


def _overrides(args: argparse.Namespace) -> dict[str, object]:
    out: dict[str, object] = {}
    for key in ("duration", "profile", "seed", "workers", "users", "expect_workers",
                "master_bind", "expect_workers_timeout"):
        value = getattr(args, key, None)
        if value is not None:
            out[key] = value
    return out


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--duration", help="override the scenario's duration (e.g. 30s, 2m, 24h)")
    p.add_argument("--profile", choices=["resilient", "naive"], help="reference app profile")
    p.add_argument("--seed", type=int, help="override the seed")
    p.add_argument("--workers", type=int, help="Locust worker processes (scale out the load)")
    p.add_argument("--users", type=int, help="override the number of users")
    p.add_argument("--expect-workers", type=int, metavar="N",
                   help="Locust workers on other hosts to wait for (chaosharness load-worker)")
    p.add_argument("--master-bind", metavar="HOST:PORT",
                   help="where the load's master listens for workers (default 127.0.0.1:0, "
                        "a free loopback port; an address of this host to accept other hosts)")
    p.add_argument("--expect-workers-timeout",
                   help="how long to wait for the expected workers (e.g. 60s; default 60s)")
    p.add_argument("--reports", type=Path, default=Path("reports"), help="where runs are written")
    p.add_argument("--quiet", action="store_true", help="no progress line")


def _print_outcome(run_dir: Path, result: dict[str, object] | None, code: int) -> None:
    verdict = (result or {}).get("verdict", "none")
    expected = (result or {}).get("as_expected")
    print(f"verdict: {verdict} (as expected: {expected}); exit code {code}")
    report = run_dir / "report.html"
    print(f"report: {report if report.exists() else run_dir}")


def cmd_run(args: argparse.Namespace) -> int:
    from harness.run import run_scenario

    outcome = run_scenario(args.scenario, _overrides(args), reports_dir=args.reports, quiet=args.quiet)
    _print_outcome(outcome.run_dir, outcome.result, outcome.exit_code)
    return outcome.exit_code


def cmd_replay(args: argparse.Namespace) -> int:
    from harness.run import run_scenario

    old = Path(args.run_dir)
    scenario = old / "scenario.toml"
    if not scenario.is_file():
        raise VerifyError(f"{scenario}: missing; is {old} a run directory?")
    outcome = run_scenario(scenario, {}, reports_dir=args.reports or old.parent, replay_of=old,
                           quiet=args.quiet)
    _print_outcome(outcome.run_dir, outcome.result, outcome.exit_code)
    return outcome.exit_code


def cmd_suite(args: argparse.Namespace) -> int:
    from harness.suite import find_suite, run_suite

    outcome = run_suite(find_suite(args.suite), _overrides(args), reports_dir=args.reports,
                        quiet=args.quiet)
    for run in outcome.runs:
        verdict = (run.result or {}).get("verdict", run.status)
        ok = "as expected" if run.exit_code == exitcodes.OK else "NOT as expected"
        print(f"  {run.run_dir.name}: {verdict} ({ok})")
    if outcome.stopped_by:
        print(f"suite stopped by {outcome.stopped_by}; not run: {', '.join(outcome.not_run) or 'none'}")
    summary = outcome.suite_dir / "summary.html"
    table = outcome.suite_dir / "seed-metrics.md"
    if args.update_readme and table.is_file():
        update_readme(args.update_readme, table.read_text(), outcome.suite_dir)
        print(f"updated the seed-metrics table in {args.update_readme}")
    print(f"suite exit code {outcome.exit_code}")
    print(f"report: {summary if summary.exists() else outcome.suite_dir}")
    return outcome.exit_code


README_START, README_END = "<!-- seed-metrics:start -->", "<!-- seed-metrics:end -->"


def update_readme(readme: Path, table_md: str, suite_dir: Path) -> None:
    """Replace the block between the seed-metrics markers of ``readme`` with ``table_md``."""
    text = readme.read_text()
    if README_START not in text or README_END not in text:
        raise VerifyError(f"{readme}: no {README_START} ... {README_END} block to replace")
    head, rest = text.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    block = f"{README_START}\n{table_md.strip()}\n\n(from `{suite_dir.name}`)\n{README_END}"
    readme.write_text(head + block + tail)


def cmd_verify(args: argparse.Namespace) -> int:
    from harness.verify import exit_code_for, verify_run

    result = verify_run(Path(args.run_dir))
    for slo in ResultRecord.from_json(result).slos:
        print(f"  {slo.get('verdict', '?'):7} {slo.get('name')}@{slo.get('phase')}: "
              f"{slo.get('value')} (threshold {slo.get('threshold_text', slo.get('threshold'))})")
    code: int = exit_code_for(result)
    print(f"verdict: {result.get('verdict')} (as expected: {result.get('as_expected')})")
    return code


def cmd_report(args: argparse.Namespace) -> int:
    from harness.report import render_run

    run_dir = Path(args.run_dir)
    if not (run_dir / "result.json").exists():
        from harness.verify import verify_run

        verify_run(run_dir)
    for path in render_run(run_dir):
        print(path)
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from harness.report import compare_runs

    out = Path(args.out) if args.out else Path(args.run_a).parent / (
        f"compare-{Path(args.run_a).name}-vs-{Path(args.run_b).name}")
    out.mkdir(parents=True, exist_ok=True)
    for path in compare_runs(Path(args.run_a), Path(args.run_b), out):
        print(path)
    return 0


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("run", help="carry out one scenario and judge it")
    p.add_argument("scenario", type=Path)
    _common(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("suite", help="run a suite of scenarios (scenarios/suites/NAME.toml)")
    p.add_argument("suite")
    p.add_argument("--update-readme", type=Path, default=None, metavar="README",
                   help="put the suite's seed-metrics table between the markers in README")
    _common(p)
    p.set_defaults(func=cmd_suite)

    p = sub.add_parser("replay", help="re-run a recorded run: same seed, load shape and fault timeline")
    p.add_argument("run_dir", type=Path)
    p.add_argument("--reports", type=Path, default=None)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_replay)

    p = sub.add_parser("verify", help="judge a run directory again (writes result.json)")
    p.add_argument("run_dir", type=Path)
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("report", help="render report.md/.html, plots and junit.xml of a run directory")
    p.add_argument("run_dir", type=Path)
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("compare", help="render two runs side by side")
    p.add_argument("run_a", type=Path)
    p.add_argument("run_b", type=Path)
    p.add_argument("--out", type=Path, default=None)
    p.set_defaults(func=cmd_compare)

