"""The run's verdict, whether it is what the scenario expects, and the exit code.

* ``verdict`` is the SLOs alone: ``fail`` if any failed, else ``unknown`` if any could
  not be judged, else ``pass``;
* ``as_expected``: a normal scenario (``expect = "pass"``) must pass. A negative control
  (``expect = "fail"``) must break every SLO its ``expect_fail`` lists (ids such as
  ``"lost_writes@run"``; a bare metric means ``@run``), or, listing none, fail overall.
  A control whose named SLO passed, was unknown or does not exist did not prove its
  detector fires, so it is *not* as expected;
* exit code: 0 as expected, 1 not, 2 the run could not be carried out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.errors import VerifyError
from harness.scenario.loader import load_recorded
from harness.scenario.schema import Scenario
from harness.verify.exitcode import exit_code_for
from harness.verify.slo import Judgement

__all__ = ["Expectation", "expectation", "exit_code_for", "overall_verdict", "read_scenario"]


def read_scenario(path: Path) -> Scenario:
    """The scenario as run, through the scenario loader (the same validation as ``run``);
    an invalid one is a ScenarioError naming file and key, a missing one a VerifyError."""
    if not path.exists():
        raise VerifyError(f"{path}: missing; verify needs the scenario as run for its SLOs")
    return load_recorded(path)


def overall_verdict(judgements: Sequence[Judgement]) -> str:
    """``fail`` if any SLO failed, else ``unknown`` if any was unknown, else ``pass``."""
    verdicts = {j.verdict for j in judgements}
    if "fail" in verdicts:
        return "fail"
    return "unknown" if "unknown" in verdicts else "pass"


@dataclass(frozen=True)
class Expectation:
    """The verdict against ``expect``: as expected or not, and why not."""

    as_expected: bool
    reasons: list[str]


def expectation(facts: Scenario, judgements: Sequence[Judgement]) -> Expectation:
    """The verdict against ``expect`` (result.json ``as_expected``, ``expectation_reasons``)."""
    verdict = overall_verdict(judgements)
    if facts.expect != "fail":
        unmet = [f"{j.slo.id}: {j.verdict} (value {j.value}, wanted {j.slo.text})"
                 for j in judgements if j.verdict != "pass"]
        return Expectation(verdict == "pass", unmet)
    if not facts.expect_fail:
        ok = verdict == "fail"
        return Expectation(ok, [] if ok else
                           [f"negative control expected a failing SLO; verdict is {verdict}"])
    by_id = {j.slo.id: j for j in judgements}
    reasons: list[str] = []
    for wanted in facts.expect_fail:
        j = by_id.get(wanted)
        if j is None:
            reasons.append(f"{wanted}: the scenario has no such SLO, so it cannot fail")
        elif j.verdict != "fail":
            reasons.append(f"{wanted}: expected to fail, but it is {j.verdict} "
                           f"(value {j.value}, threshold {j.slo.text}): the detector did not fire")
    return Expectation(not reasons, reasons)
