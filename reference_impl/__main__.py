"""``python -m reference_impl serve|migrate``: the reference app's command line.

- ``serve [--host H] [--port N] [--dsn URL] [--profile resilient|naive] [--chaos-hooks]
  [--no-migrate]``: run the service under uvicorn (``--port 0``: a free port, printed as
  ``listening on http://HOST:PORT``). Every flag also has a ``REFERENCE_IMPL_*``
  variable (see ``reference_impl.config``); the database URL is ``DATABASE_URL``.
- ``migrate up|down|status [--dsn URL] [--target N]``: the schema migrations.

Exit codes: 0 clean stop, 1 forced stop or migration error, 2 bad configuration,
3 the app failed to start.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["main"]


def _serve_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m reference_impl serve",
                                     description="Run the reference app.")
    parser.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", help="port (default 8000; 0 = any free port)")
    parser.add_argument("--dsn", help="postgresql:// URL (default $DATABASE_URL)")
    parser.add_argument("--profile", choices=["resilient", "naive"],
                        help="resilient (default) or naive, the negative control")
    parser.add_argument("--chaos-hooks", dest="chaos_hooks", action="store_true", default=None,
                        help="mount /api/chaos (needs REFERENCE_IMPL_ADMIN_TOKEN)")
    parser.add_argument("--no-migrate", dest="auto_migrate", action="store_false", default=None,
                        help="do not apply migrations at startup")
    parser.add_argument("--drain-timeout", dest="drain_timeout_s",
                        help="seconds in-flight requests get at shutdown (default 10)")
    parser.add_argument("--log-level", dest="log_level", help="info (default), debug, ...")
    return parser


def _serve(argv: Sequence[str]) -> int:
    from reference_impl.config import ConfigError, load_config
    from reference_impl.db.errors import ConfigError as DbConfigError

    args = _serve_parser().parse_args(argv)
    try:
        config = load_config(vars(args))
    except (ConfigError, DbConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from reference_impl.app.server import serve

    return serve(config)


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch ``serve`` or ``migrate``; return the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if args else 2
    command, rest = args[0], args[1:]
    if command == "serve":
        return _serve(rest)
    if command == "migrate":
        from reference_impl.db.migrate import main as migrate_main

        return migrate_main(rest)
    print(f"error: unknown command {command!r}: expected serve or migrate", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
