"""The harness' locustfile (``locust -f harness/load/locustfile.py``).

Reads its :class:`~harness.load.config.LoadRunConfig` from the file named by
``--chaosharness-config PATH`` or ``CHAOSHARNESS_LOAD_CONFIG`` (through
:mod:`harness.load.client`, which also installs the request recorder), follows the
scenario's shape (:mod:`harness.load.shapes`), and runs the scenario's requests: its
``[[load.request]]`` entries, or the reference API's ``mix`` expressed as the same kind
of declared requests (:mod:`harness.load.reference_requests`). One engine runs both
(:mod:`harness.load.declared_user`), on the careful client.

This module runs only inside Locust's process (importing locust gevent-patches it).
"""

from __future__ import annotations

from harness.load import shapes
from harness.load.client import CONFIG
from harness.load.declared_user import DeclaredUser

if CONFIG.shape != "constant":
    # exactly one shape class in this namespace: Locust uses every one it finds
    ScenarioShape = shapes.shape_class(CONFIG)


class ScenarioUser(DeclaredUser):
    """A user running the scenario's requests."""
