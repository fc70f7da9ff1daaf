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

import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import ScenarioError, VerifyError
from harness.scenario.durations import parse_duration
from harness.slo import Slo, parse_slo
from harness.verify.catalog import slo_id, split_slo_id
from harness.verify.exitcode import exit_code_for
from harness.verify.slo import Judgement

__all__ = [
    "ScenarioFacts",
    "expectation",
    "exit_code_for",
    "overall_verdict",
    "read_scenario_facts",
]


@dataclass(frozen=True)
class ScenarioFacts:
    """What verify needs from scenario.toml: SLOs, expectation and verify options."""

    name: str
    expect: str = "pass"
    expect_fail: tuple[str, ...] = ()
    slos: tuple[Slo, ...] = ()
    verify: dict[str, Any] = field(default_factory=dict)
    warmup_s: float | None = None


def read_scenario_facts(path: Path) -> ScenarioFacts:
    """Read the scenario as run; an invalid SLO is a ScenarioError naming file and key."""
    if not path.exists():
        raise VerifyError(f"{path}: missing; verify needs the scenario as run for its SLOs")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(str(path), "", f"not valid TOML: {exc}") from exc
    slos: list[Slo] = []
    for phase, table in (data.get("slo") or {}).items():
        if not isinstance(table, dict):
            raise ScenarioError(str(path), f"slo.{phase}", "expected a table of metric = expr")
        for metric, text in table.items():
            try:
                slos.append(parse_slo(phase, metric, text))
            except ValueError as exc:
                raise ScenarioError(str(path), f"slo.{phase}.{metric}", str(exc)) from exc
    expect_fail = data.get("expect_fail") or ()
    if isinstance(expect_fail, str):
        expect_fail = (expect_fail,)
    try:
        warm = parse_duration(data["warmup"]) if "warmup" in data else None
    except ValueError as exc:
        raise ScenarioError(str(path), "warmup", str(exc)) from exc
    return ScenarioFacts(
        name=str(data.get("name") or path.parent.name),
        expect=str(data.get("expect") or "pass"),
        expect_fail=tuple(slo_id(*split_slo_id(str(x))) for x in expect_fail),
        slos=tuple(slos),
        verify=dict(data.get("verify") or {}),
        warmup_s=warm,
    )


def overall_verdict(judgements: Sequence[Judgement]) -> str:
    """``fail`` if any SLO failed, else ``unknown`` if any was unknown, else ``pass``."""
    verdicts = {j.verdict for j in judgements}
    if "fail" in verdicts:
        return "fail"
    return "unknown" if "unknown" in verdicts else "pass"


def expectation(facts: ScenarioFacts, judgements: Sequence[Judgement]) -> dict[str, Any]:
    """``{"as_expected": bool, "reasons": [...]}``: the verdict against ``expect``."""
    verdict = overall_verdict(judgements)
    if facts.expect != "fail":
        unmet = [f"{j.slo.id}: {j.verdict} (value {j.value}, wanted {j.slo.text})"
                 for j in judgements if j.verdict != "pass"]
        return {"as_expected": verdict == "pass", "reasons": unmet}
    if not facts.expect_fail:
        ok = verdict == "fail"
        return {"as_expected": ok, "reasons": [] if ok else
                [f"negative control expected a failing SLO; verdict is {verdict}"]}
    by_id = {j.slo.id: j for j in judgements}
    reasons: list[str] = []
    for wanted in facts.expect_fail:
        j = by_id.get(wanted)
        if j is None:
            reasons.append(f"{wanted}: the scenario has no such SLO, so it cannot fail")
        elif j.verdict != "fail":
            reasons.append(f"{wanted}: expected to fail, but it is {j.verdict} "
                           f"(value {j.value}, threshold {j.slo.text}): the detector did not fire")
    return {"as_expected": not reasons, "reasons": reasons}
