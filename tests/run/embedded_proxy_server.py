"""The embedded proxy server started on its own, to stand in for a Toxiproxy given by URL."""

from __future__ import annotations

import re
import sys

from harness.provision.process import Supervisor
from harness.provision.ready import wait_until


def serve_embedded_proxy(sup: Supervisor) -> str:
    """Start ``python -m harness.toxiproxy`` on a free port under ``sup``; its base URL."""
    child = sup.spawn("toxiproxy", [sys.executable, "-m", "harness.toxiproxy", "--port", "0"])
    found: list[str] = []

    def listening() -> bool:
        found.extend(re.findall(r"listening on (\S+)", child.log_tail(20)))
        return bool(found)

    wait_until(listening, 15.0, what="embedded proxy", on_timeout=child.log_tail)
    return f"http://{found[0]}"
