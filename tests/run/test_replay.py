"""`chaosharness replay RUN_DIR` re-runs the recorded scenario: the same fault timeline (actions
and offsets within 200 ms) and the same write keys, in a new run directory linked to the old."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from harness.cli import main
from harness.requests_file import REQUESTS_GZ, open_requests

pytestmark = pytest.mark.integration


def _faults(run_dir: Path) -> list[tuple[str, str, float]]:
    events = [json.loads(x) for x in (run_dir / "timeline.jsonl").read_text().splitlines()]
    start = next(e["t_s"] for e in events if e["event"] == "load_start")
    return [(e["event"], e["action"], e["t_s"] - start) for e in events
            if e["event"] == "apply"]


def _keys(run_dir: Path) -> set[str]:
    with open_requests(run_dir / REQUESTS_GZ) as fh:
        return {r["write_key"] for r in csv.DictReader(fh) if r["write_key"]}


def test_replay_reproduces_timeline_and_keys(short_run: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """Provoke: replay a finished run. Must hold: same faults at the same offsets (200 ms), the
    same first write keys (seeded), and run.json's replay_of names the old run."""
    code = main(["replay", str(short_run), "--reports", str(tmp_path), "--quiet"])
    out = capsys.readouterr().out
    assert code in (0, 1), out
    new = next(p for p in tmp_path.iterdir() if p.is_dir())
    assert json.loads((new / "run.json").read_text())["replay_of"] == str(short_run)
    old_faults, new_faults = _faults(short_run), _faults(new)
    assert [f[:2] for f in old_faults] == [f[:2] for f in new_faults]
    for (_, _, a), (_, _, b) in zip(old_faults, new_faults, strict=True):
        assert abs(a - b) < 0.2
    # each user's keys come from the seed, so the runs share their keys; how many each user
    # wrote in the time differs a little with the machine's speed
    old_keys, new_keys = _keys(short_run), _keys(new)
    assert old_keys and len(old_keys & new_keys) >= 0.8 * min(len(old_keys), len(new_keys))
    users = {k.rsplit("-", 1)[0] for k in old_keys}
    assert users == {k.rsplit("-", 1)[0] for k in new_keys}
    assert "replay" in (new / "report.md").read_text()
