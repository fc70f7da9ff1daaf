"""``junit.xml``: SLO verdicts in the shape CI systems show natively.

One ``<testcase>`` per SLO: ``classname`` is the scenario, ``name`` is
``"<metric>@<phase>"``. A failed SLO carries ``<failure message="value vs
threshold">`` with its evidence; an SLO that could not be measured is an
``<error>`` (it proves nothing, so it is not a pass); a negative control's SLO
that failed as declared is a pass, and one that passed is a failure. A run
without ``result.json`` is one errored testcase that says so. Counts on
``<testsuite>`` and ``<testsuites>`` are computed from the cases, so they add up.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.records import ResultRecord
from harness.report.scrub import Scrubber
from harness.report.tables import (
    ANY_SLO,
    expected_to_fail,
    fmt_value,
    slo_outcome,
    threshold_text,
)
from harness.verify.catalog import slo_id

__all__ = ["SuiteEntry", "junit_testsuite", "write_run_junit", "write_suite_junit"]


@dataclass(frozen=True)
class SuiteEntry:
    """One run in a junit file: its scenario, its result (None: not judged) and its report."""

    scenario: str
    result: ResultRecord | None
    report: Path | None = None
    problem: str = ""


def _case(suite: ET.Element, classname: str, name: str) -> ET.Element:
    return ET.SubElement(suite, "testcase", classname=classname, name=name, time="0")


def _slo_case(suite: ET.Element, scenario: str, slo: Mapping[str, object], expect_fail: set[str],
              scrub: Scrubber) -> str:
    metric, phase = str(slo.get("name", "?")), str(slo.get("phase", "run"))
    case = _case(suite, scenario, slo_id(metric, phase))
    status, words = slo_outcome(slo, expect_fail)
    vs = f"{fmt_value(metric, slo.get('value'))} vs {threshold_text(slo)}"
    evidence = scrub.text(json.dumps(slo.get("evidence") or {}, indent=1, default=str))
    if status == "fail":
        el = ET.SubElement(case, "failure", message=scrub.text(f"{vs} ({words})"), type="SLO")
        el.text = evidence
    elif status == "unknown":
        el = ET.SubElement(case, "error", message=scrub.text(f"{words}: {vs}"), type="SLO")
        el.text = evidence
    elif words != "pass":
        ET.SubElement(case, "system-out").text = scrub.text(f"{vs}: {words}")
    return status


def _control_case(suite: ET.Element, scenario: str, slos: Sequence[Mapping[str, object]]) -> str:
    """A negative control naming no SLO: it passes only if some SLO failed."""
    case = _case(suite, scenario, "negative_control@run")
    failed = [slo_id(str(s.get("name")), str(s.get("phase", "run"))) for s in slos
              if s.get("verdict") == "fail"]
    if failed:
        ET.SubElement(case, "system-out").text = f"failed as expected: {', '.join(failed)}"
        return "pass"
    ET.SubElement(case, "failure", type="NegativeControl",
                  message="expected a failing SLO, none failed: the detectors did not fire")
    return "fail"


def junit_testsuite(entry: SuiteEntry, scrub: Scrubber | None = None) -> ET.Element:
    """One ``<testsuite>`` for a run, with its counts filled in."""
    scrub = scrub or Scrubber()
    suite = ET.Element("testsuite", name=entry.scenario)
    if entry.report is not None:
        props = ET.SubElement(suite, "properties")
        ET.SubElement(props, "property", name="report", value=str(entry.report))
    statuses: list[str] = []
    result = entry.result
    if result is None:
        case = _case(suite, entry.scenario, "result")
        why = entry.problem or "result.json missing: the run was not judged"
        ET.SubElement(case, "error", message=scrub.text(why), type="NoResult")
        statuses.append("unknown")
    else:
        expect_fail = expected_to_fail(result)
        slos = result.slos
        for slo in slos:
            statuses.append(_slo_case(suite, entry.scenario, slo, expect_fail, scrub))
        if ANY_SLO in expect_fail:
            statuses.append(_control_case(suite, entry.scenario, slos))
    suite.set("tests", str(len(statuses)))
    suite.set("failures", str(statuses.count("fail")))
    suite.set("errors", str(statuses.count("unknown")))
    suite.set("skipped", "0")
    suite.set("time", "0")
    return suite


def _write(root: ET.Element, path: Path) -> Path:
    ET.indent(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
    return path


def write_suite_junit(name: str, entries: Iterable[SuiteEntry], path: Path,
                      scrub: Scrubber | None = None) -> Path:
    """One ``<testsuites>`` file for many runs (a suite), totals summed from the suites."""
    scrub = scrub or Scrubber()
    root = ET.Element("testsuites", name=name)
    totals = dict.fromkeys(("tests", "failures", "errors", "skipped"), 0)
    for entry in entries:
        suite = junit_testsuite(entry, scrub)
        root.append(suite)
        for key in totals:
            totals[key] += int(suite.get(key, "0"))
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("time", "0")
    return _write(root, path)


def write_run_junit(scenario: str, result: ResultRecord | None, path: Path,
                    report: Path | None = None, scrub: Scrubber | None = None) -> Path:
    """``junit.xml`` for one run: a ``<testsuites>`` holding its one ``<testsuite>``."""
    return write_suite_junit(scenario, [SuiteEntry(scenario, result, report)], path, scrub)
