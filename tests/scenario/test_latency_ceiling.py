"""A latency SLO above the load client's timeout could never fail: the loader refuses it."""

from __future__ import annotations

import pytest

from harness.errors import ScenarioError
from harness.scenario import loads_scenario


def _doc(slo: str, timeout: str | None = None) -> str:
    load = f'[load]\nrequest_timeout = "{timeout}"\n' if timeout else ""
    return f'name = "t"\nduration = "30s"\n{load}[slo.fault]\n{slo}\n'


@pytest.mark.parametrize("slo", ['max_latency_ms = "< 3000"', 'p99_latency_ms = "<= 2001"',
                                 'p50_latency_ms = "< 1e9"'])
def test_a_latency_ceiling_over_the_timeout_is_refused_naming_both_ways_out(slo: str) -> None:
    with pytest.raises(ScenarioError) as info:
        loads_scenario(_doc(slo), "x.toml")
    message = str(info.value)
    metric = slo.split(" ")[0]
    assert message.startswith(f"x.toml: slo.fault.{metric}: ")
    assert "can never fail" in message and "request_timeout = 2s" in message
    assert "lower the threshold to <= 2000" in message


@pytest.mark.parametrize("slo, timeout", [
    ('max_latency_ms = "< 3000"', "4s"),     # the client waits longer than the SLO allows
    ('max_latency_ms = "< 2000"', None),     # equal: a timed-out request fails it
    ('p99_latency_ms = "<= 2000"', None),
    ('p99_latency_ms = "> 5000"', None),     # a floor is not a ceiling
    ('availability = ">= 99%"', None),       # not a latency
])
def test_a_ceiling_the_client_can_measure_is_accepted(slo: str, timeout: str | None) -> None:
    scenario = loads_scenario(_doc(slo, timeout), "x.toml")
    assert [s.metric for s in scenario.slos] == [slo.split(" ")[0]]

