"""Each write/connection detector proven both ways, for real: the planted fault makes it fail by
name with its evidence, and the same scenario without the switch (its clean twin: same seed,
load, faults and SLOs) passes it.

- ``planted-write-loss``: a write-behind buffer acknowledges posts before they commit; the
  SIGKILL loses the buffered ones, so ``lost_writes`` fails and names them; the twin (the
  resilient app acknowledging after commit) loses none through the same SIGKILL.
- ``planted-bad-writes``: some posts commit and then answer 422, some write a second row
  under a key nobody sent; ``phantom_writes`` and ``unexpected_writes`` fail and name them;
  the twin has neither.
- ``planted-connection-leak``: connections kept outside the pool, through the proxy; after
  the load the app holds more than its pool's maximum, so ``connection_leaks`` fails by that
  excess; the twin holds no more than its pool.
- ``planted-rss-leak``: every posted message kept for ever, over the 2 min an RSS slope
  needs; ``memory_growth_mb_per_hour`` fails on the lower bound of its slope (and the leak
  sites name the planted file); the twin, tracemalloc on too, passes both with 0 sites.
  The two run side by side (the slope's 2 min is the floor of each).

Each run is shortened by a duration override to what still fails honestly.
"""

from __future__ import annotations

import csv
import dataclasses
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from harness.requests_file import open_requests, requests_path
from harness.run import RunOutcome, run_scenario
from harness.scenario import load_scenario, scenario_to_toml

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
WRITE_LOSS = ROOT / "scenarios" / "planted-write-loss.toml"
CONNECTION_LEAK = ROOT / "scenarios" / "planted-connection-leak.toml"
BAD_WRITES = ROOT / "scenarios" / "planted-bad-writes.toml"
#: The bad writes need no fault: a few seconds of posting plant dozens of each.
BAD_WRITES_DURATION = "10s"
RSS_LEAK = ROOT / "scenarios" / "planted-rss-leak.toml"
#: The write loss: SIGKILL at 6 s, the app back by ~9 s, a few seconds of load after it.
WRITE_LOSS_DURATION = "15s"
#: The connection leak: the cap is reached within a few seconds of load.
CONNECTION_LEAK_DURATION = "12s"
PLANT_PREFIX = "REFERENCE_IMPL_PLANT_"


def _clean_twin(path: Path, into: Path) -> Path:
    """The scenario of ``path`` without its planted switches, expected to pass."""
    planted = load_scenario(path)
    env = {k: v for k, v in planted.target.env.items() if not k.startswith(PLANT_PREFIX)}
    assert env != dict(planted.target.env), "the scenario sets no planted switch"
    twin = dataclasses.replace(
        planted, name=f"{planted.name}-clean", expect="pass", expect_fail=(),
        description=f"{planted.name} without its planted switches (the clean twin)",
        target=dataclasses.replace(planted.target, env=MappingProxyType(env)))
    out = into / f"{twin.name}.toml"
    out.write_text(scenario_to_toml(twin))
    return out


def _run(path: Path, duration: str | None, reports: Path) -> tuple[RunOutcome, dict[str, Any]]:
    overrides = {"duration": duration} if duration else {"cooldown": "2s"}
    outcome = run_scenario(path, overrides, reports_dir=reports, quiet=True)
    assert outcome.status == "complete" and outcome.result is not None, outcome.error
    return outcome, outcome.result


def _verdicts(result: dict[str, Any]) -> dict[str, tuple[str, Any]]:
    return {f"{s['name']}@{s['phase']}": (s["verdict"], s["value"]) for s in result["slos"]}


def _rows(run_dir: Path) -> list[dict[str, str]]:
    with open_requests(requests_path(run_dir) or run_dir / "requests.csv") as fh:
        return list(csv.DictReader(fh))


def _acked_keys(run_dir: Path) -> set[str]:
    return {r["write_key"] for r in _rows(run_dir) if r["ack"] == "1" and r["write_key"]}


def test_planted_write_loss_fails_lost_writes_naming_the_keys(tmp_path: Path) -> None:
    """Acknowledged from the buffer, killed before the flush: lost_writes fails (and only it),
    the lost keys are named, each was acknowledged and is absent from the final read, and
    their acknowledgements came within the flush interval (plus slack) before the SIGKILL."""
    outcome, result = _run(WRITE_LOSS, WRITE_LOSS_DURATION, tmp_path)
    assert result["as_expected"] and outcome.exit_code == 0, result["expectation_reasons"]
    verdicts = _verdicts(result)
    assert verdicts["lost_writes@run"][0] == "fail", verdicts
    assert {k for k, (v, _) in verdicts.items() if v == "fail"} == {"lost_writes@run"}, verdicts
    writes = result["writes"]
    assert writes["lost"] > 0 and verdicts["lost_writes@run"][1] == writes["lost"]
    lost = writes["examples"]["lost"]
    assert lost and len(lost) == min(writes["lost"], 10), writes["examples"]
    final = json.loads((outcome.run_dir / "final_read.json").read_text())
    assert final["ok"] and not set(lost) & set(final["rows"])
    assert set(lost) <= _acked_keys(outcome.run_dir)
    kill = next(json.loads(line) for line in
                (outcome.run_dir / "timeline.jsonl").read_text().splitlines()
                if '"apply"' in line and '"app.kill"' in line)
    acks = [a["t_s"] for attempts in writes["lost_attempts"].values() for a in attempts
            if a["ack"]]
    assert acks and all(float(kill["t_s"]) - 2.0 < t <= float(kill["t_s"]) for t in acks), (
        kill, sorted(acks)[:3])


def test_write_loss_clean_twin_keeps_every_acknowledged_write(tmp_path: Path) -> None:
    """The same scenario and SIGKILL without the switch: nothing acknowledged is lost."""
    outcome, result = _run(_clean_twin(WRITE_LOSS, tmp_path), WRITE_LOSS_DURATION,
                           tmp_path / "reports")
    verdicts = _verdicts(result)
    assert result["as_expected"] and result["verdict"] == "pass", verdicts
    writes = result["writes"]
    assert verdicts["lost_writes@run"] == ("pass", 0) and writes["lost"] == 0
    assert writes["acknowledged"] > 100 and writes["read"] >= writes["acknowledged"], writes
    assert any(e.get("action") == "app.kill" and e.get("event") == "apply" for e in map(
        json.loads, (outcome.run_dir / "timeline.jsonl").read_text().splitlines()))


def test_planted_connection_leak_fails_connection_leaks_by_the_excess(tmp_path: Path) -> None:
    """After the load the app holds its kept connections besides its pool: connection_leaks
    fails, its value is the settled count beyond the pool's maximum (counted through the
    proxy), and the app's own stats agree on how many it kept."""
    outcome, result = _run(CONNECTION_LEAK, CONNECTION_LEAK_DURATION, tmp_path)
    assert result["as_expected"] and outcome.exit_code == 0, result["expectation_reasons"]
    verdicts = _verdicts(result)
    assert {k for k, (v, _) in verdicts.items() if v == "fail"} == {"connection_leaks@run"}, (
        verdicts)
    conns = result["process"]["connections"]
    assert conns["allowance_from"] == "pool.max" and conns["counted_by"] == ["proxy"], conns
    assert conns["value"] == conns["settled"] - conns["pool_max"] > 0, conns
    assert verdicts["connection_leaks@run"][1] == conns["value"]
    samples = [json.loads(line) for line in
               (outcome.run_dir / "samples.jsonl").read_text().splitlines() if line.strip()]
    kept = [int(planted["connection_leak"]["kept"]) for s in samples
            if (planted := (s.get("app_stats") or {}).get("planted"))]
    cap = int(load_scenario(CONNECTION_LEAK).target.env[PLANT_PREFIX + "CONNECTION_LEAK_MAX"])
    assert kept and max(kept) == cap, kept  # the cap was reached, and never passed
    # the pool holds at most its max: at least the kept ones beyond it are the excess
    assert cap - conns["pool_max"] <= conns["value"] <= cap, conns


def test_connection_leak_clean_twin_holds_no_more_than_its_pool(tmp_path: Path) -> None:
    """The same load without the switch: after it the app holds no more than its pool."""
    _, result = _run(_clean_twin(CONNECTION_LEAK, tmp_path), CONNECTION_LEAK_DURATION,
                     tmp_path / "reports")
    verdicts = _verdicts(result)
    assert result["as_expected"] and result["verdict"] == "pass", verdicts
    assert verdicts["connection_leaks@run"] == ("pass", 0)
    conns = result["process"]["connections"]
    assert conns["allowance_from"] == "pool.max" and conns["counted_by"] == ["proxy"], conns
    assert 0 < conns["settled"] <= conns["pool_max"], conns


def test_planted_bad_writes_fail_phantom_and_unexpected_naming_the_keys(tmp_path: Path) -> None:
    """Committed-then-422 posts are phantom writes, and exactly the keys answered 422 (a
    definite failure the client did not retry); rows under keys never sent are unexpected,
    each the ghost of a key that was sent. Nothing else fails."""
    outcome, result = _run(BAD_WRITES, BAD_WRITES_DURATION, tmp_path)
    assert result["as_expected"] and outcome.exit_code == 0, result["expectation_reasons"]
    verdicts = _verdicts(result)
    assert {k for k, (v, _) in verdicts.items() if v == "fail"} == {
        "phantom_writes@run", "unexpected_writes@run"}, verdicts
    writes, rows = result["writes"], _rows(outcome.run_dir)
    rejected = {r["write_key"] for r in rows if r["status"] == "422"}
    assert rejected and writes["phantom"] == len(rejected), (writes["phantom"], len(rejected))
    assert set(writes["examples"]["phantom"]) <= rejected
    sent = {r["write_key"] for r in rows if r["write_key"]}
    ghosts = writes["examples"]["unexpected"]
    assert writes["unexpected"] > 0 and ghosts
    assert all(g.endswith(".ghost") and g.removesuffix(".ghost") in sent for g in ghosts), ghosts
    # every 25th new post is rejected and every 40th has a ghost: the two counts agree
    assert abs(writes["unexpected"] - writes["phantom"] * 25 / 40) <= 2, writes


def test_bad_writes_clean_twin_has_no_phantom_or_unexpected_write(tmp_path: Path) -> None:
    """The same load without the switches: no 422, no phantom, no unexpected write."""
    outcome, result = _run(_clean_twin(BAD_WRITES, tmp_path), BAD_WRITES_DURATION,
                           tmp_path / "reports")
    verdicts = _verdicts(result)
    assert result["as_expected"] and result["verdict"] == "pass", verdicts
    assert verdicts["phantom_writes@run"] == ("pass", 0)
    assert verdicts["unexpected_writes@run"] == ("pass", 0)
    assert result["writes"]["acknowledged"] > 100
    assert not [r for r in _rows(outcome.run_dir) if r["status"] == "422"]
def test_planted_rss_leak_fails_the_slope_and_its_clean_twin_passes(tmp_path: Path) -> None:
    """Both twins at once, tracemalloc on in each. Planted: memory_growth_mb_per_hour fails
    with the lower bound of its 95 % interval over 50 MB/h, judged on over 2 min of one
    process, and the growing site is the planted file. Clean: every SLO passes, the slope
    judged (not too short) and memory_leak_sites judged 0 from the diffs."""
    twin = _clean_twin(RSS_LEAK, tmp_path)
    with ThreadPoolExecutor(2) as pool:
        planted_f = pool.submit(_run, RSS_LEAK, None, tmp_path / "planted")
        clean_f = pool.submit(_run, twin, None, tmp_path / "clean")
        (outcome, result), (_, clean) = planted_f.result(), clean_f.result()
    assert result["as_expected"] and outcome.exit_code == 0, result["expectation_reasons"]
    verdicts = _verdicts(result)
    assert {k for k, (v, _) in verdicts.items() if v == "fail"} == {
        "memory_growth_mb_per_hour@run", "memory_leak_sites@run"}, verdicts
    memory = result["memory"]
    (slope,) = [s for s in result["slos"] if s["name"] == "memory_growth_mb_per_hour"]
    assert memory["trend_reason"] is None and memory["span_s"] >= 120.0, memory
    assert slope["judged_value"] == memory["ci95"][0] > 50.0 and memory["leak"] is True
    assert [lt["pid"] for lt in memory["lifetimes"]] == [memory["lifetimes"][0]["pid"]]
    assert any("planted_leak.py" in site["site"] for site in memory["top_sites"]), memory
    clean_verdicts = _verdicts(clean)
    assert clean["as_expected"] and clean["verdict"] == "pass", clean_verdicts
    assert clean["memory"]["trend_reason"] is None and clean["memory"]["leak"] is False
    assert clean_verdicts["memory_leak_sites@run"] == ("pass", 0)
    assert clean["memory"]["diffs"] >= 3, clean["memory"]
