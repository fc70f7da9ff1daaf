"""``python -m harness.toxiproxy``: run the embedded Toxiproxy-compatible server."""

from harness.toxiproxy.server import main

raise SystemExit(main())
