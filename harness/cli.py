"""The ``chaosharness`` command line. The only module that exits the process.

Exit codes (:mod:`harness.exitcodes`): 0 every verdict as expected, 1 a verdict was
not, 2 the run could not be carried out (the message says what to do).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from harness import __version__, exitcodes
from harness.errors import HarnessError
from harness.redact import redact

# Each module registers its commands with add_parsers(sub); each command returns its exit code.
_COMMAND_MODULES = [
    "harness.cli_runs",
    "harness.cli_catalog",
    "harness.cli_postgres",
    "harness.cli_load",
    "harness.cli_trend",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chaosharness",
        description="Chaos and load test harness: provision -> inject + load -> observe -> verify -> report",
    )
    parser.add_argument("--version", action="version", version=f"chaosharness {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMAND_MODULES:
        importlib.import_module(name).add_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("proxy", "app"):  # their own command lines, passed through whole
        from harness.cli_catalog import passthrough

        return passthrough(argv[0], argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return exitcodes.COULD_NOT_RUN
    try:
        code: int = args.func(args)
    except HarnessError as exc:
        print(f"chaosharness: {redact(str(exc))}", file=sys.stderr)
        return exitcodes.COULD_NOT_RUN
    except KeyboardInterrupt:
        print("chaosharness: interrupted", file=sys.stderr)
        return 130
    return code


def entry() -> None:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":
    entry()
