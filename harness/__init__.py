"""chaosharness: a chaos and load test harness that proves a service's resilience stack works.

The pipeline is the package layout: ``provision`` -> ``faults`` + ``load`` -> ``observe``
-> ``verify`` -> ``report``; stages talk through the files of a run directory
(see docs/run-directory.md).
"""

from harness.errors import (
    FaultError,
    HarnessError,
    ProvisionError,
    ReportError,
    ScenarioError,
    VerifyError,
)

__version__ = "0.1.0"

__all__ = [
    "FaultError",
    "HarnessError",
    "ProvisionError",
    "ReportError",
    "ScenarioError",
    "VerifyError",
    "__version__",
]
