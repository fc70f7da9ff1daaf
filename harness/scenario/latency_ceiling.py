"""A latency SLO must be able to fail: its threshold cannot exceed the client's timeout.

The harness' load client gives up on a request after ``[load] request_timeout`` and
records it as a timeout whose latency is the time it waited: no latency above the
timeout is ever measured. ``max_latency_ms = "< 3000"`` with the default 2 s timeout
therefore passes however long the service hangs, and ``p99_latency_ms = "< 2500"`` can
never fail. Such an SLO is refused when the scenario is read, with both ways out::

    db-freeze.toml: slo.fault.max_latency_ms: "< 3000" can never fail: the load client
    gives up after [load] request_timeout = 2s, so no latency above 2000 ms is measured;
    raise request_timeout above 3s or lower the threshold to <= 2000

A threshold equal to the timeout is allowed: a request that timed out was recorded at
(or just over) the timeout and so fails it. ``>``/``>=`` latency SLOs (a floor) and
other metrics are not concerned.
"""

from __future__ import annotations

from collections.abc import Iterable

from harness.errors import ScenarioError
from harness.scenario.durations import format_duration
from harness.slo import Slo

__all__ = ["check_latency_ceiling", "is_latency_metric"]


def is_latency_metric(metric: str) -> bool:
    """Whether ``metric`` is a request latency in ms (``p99_latency_ms``, ``max_latency_ms``)."""
    return metric.endswith("_latency_ms")


def check_latency_ceiling(file: str, slos: Iterable[Slo], request_timeout_s: float) -> None:
    """Raise a ScenarioError for the first latency SLO ``< T``/``<= T`` whose ``T`` is over
    the client's timeout (in ms): it could only pass or read a timeout as a latency."""
    ceiling_ms = request_timeout_s * 1000.0
    for slo in slos:
        if not is_latency_metric(slo.metric) or slo.op not in ("<", "<="):
            continue
        if slo.threshold > ceiling_ms:
            raise ScenarioError(
                file, f"slo.{slo.phase}.{slo.metric}",
                f'"{slo.text}" can never fail: the load client gives up after [load] '
                f"request_timeout = {format_duration(request_timeout_s)}, so no latency above "
                f"{ceiling_ms:g} ms is measured; raise request_timeout above "
                f"{format_duration(slo.threshold / 1000.0)} or lower the threshold to "
                f"<= {ceiling_ms:g}")
