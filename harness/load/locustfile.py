"""The harness' locustfile (``locust -f harness/load/locustfile.py``).

Reads its :class:`~harness.load.config.LoadRunConfig` from the file named by
``--chaosharness-config PATH`` or ``CHAOSHARNESS_LOAD_CONFIG`` (through
:mod:`harness.load.client`, which also installs the request recorder), follows the
scenario's shape (:mod:`harness.load.shapes`), and runs either the scenario's declared
requests (:mod:`harness.load.declared_user`) or the reference API's task mix
(:mod:`harness.load.reference_user`). Both send through the same careful client.

This module runs only inside Locust's process (importing locust gevent-patches it).
"""

from __future__ import annotations

from harness.load import shapes
from harness.load.client import CONFIG

if CONFIG.shape != "constant":
    # exactly one shape class in this namespace: Locust uses every one it finds
    ScenarioShape = shapes.shape_class(CONFIG)

if CONFIG.requests:
    from harness.load.declared_user import DeclaredUser

    class ScenarioUser(DeclaredUser):
        """The scenario's declared requests."""

else:
    from harness.load.reference_user import ReferenceApiUser

    class ScenarioUser(ReferenceApiUser):  # type: ignore[no-redef]
        """The reference API's task mix."""
