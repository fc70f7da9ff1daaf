"""One real run end to end (real Postgres, proxy, app, Locust) and the run directory it leaves."""

from __future__ import annotations

import csv
import json
from itertools import pairwise
from pathlib import Path

import pytest

from harness.requests_file import REQUESTS_GZ, open_requests

pytestmark = pytest.mark.integration


def _jsonl(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_every_file_is_present_and_parseable(short_run: Path) -> None:
    """The run-directory contract: every stage's file exists and parses."""
    for name in ("run.json", "scenario.toml", "timeline.jsonl", "requests.csv.gz", "samples.jsonl",
                 "final_read.json", "result.json", "report.md", "report.html", "junit.xml"):
        assert (short_run / name).is_file(), name
    # merged into requests.csv.gz, the per-process logs are gone
    assert not list((short_run / "requests").glob("requests-*.csv"))
    run = json.loads((short_run / "run.json").read_text())
    assert run["status"] == "complete" and run["seed"] == 11
    json.loads((short_run / "result.json").read_text())


def test_requests_follow_the_load(short_run: Path) -> None:
    """requests.csv.gz has the contract's columns and roughly users x rate rows, with write keys."""
    with open_requests(short_run / REQUESTS_GZ) as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["t_s", "name", "status", "ok", "latency_ms", "error", "write_key", "ack",
                             "attempt"]
    # 6 users waiting 50-100 ms between requests for ~14 s: hundreds of requests at least
    assert len(rows) > 300, len(rows)
    writes = [r for r in rows if r["name"] == "post_message"]
    assert writes and all(r["write_key"] for r in writes)
    times = [float(r["t_s"]) for r in rows]
    assert times == sorted(times)


def test_faults_applied_on_time(short_run: Path) -> None:
    """Every fault is applied within 200 ms of its planned time and removed afterwards."""
    events = _jsonl(short_run / "timeline.jsonl")
    load_start = next(float(e["t_s"]) for e in events if e["event"] == "load_start")  # type: ignore[arg-type]
    applies = [e for e in events if e["event"] == "apply"]
    assert [e["action"] for e in applies] == ["network.latency", "postgres.restart"]
    for event, at in zip(applies, (3.0, 8.0), strict=True):
        assert event["ok"] is True, event
        assert abs(float(event["t_s"]) - (load_start + at)) < 0.2  # type: ignore[arg-type]
    removes = [e for e in events if e["event"] == "remove"]
    assert len(removes) == 2 and all(e["ok"] for e in removes)


def test_samples_at_the_tick_rate(short_run: Path) -> None:
    """samples.jsonl has about one row per second with the app's readiness and process figures."""
    samples = _jsonl(short_run / "samples.jsonl")
    assert len(samples) >= 12
    gaps = [float(b["t_s"]) - float(a["t_s"]) for a, b in pairwise(samples)]  # type: ignore[arg-type]
    assert max(gaps) < 1.5
    assert any(s.get("ready") is True for s in samples)
    assert any((s.get("app_proc") or {}).get("rss_bytes") for s in samples)  # type: ignore[union-attr]


def test_written_keys_collected_from_postgres(short_run: Path) -> None:
    """The final read holds the acknowledged keys straight from Postgres."""
    final = json.loads((short_run / "final_read.json").read_text())
    assert final["ok"] and final["agreed"]
    with open_requests(short_run / REQUESTS_GZ) as fh:
        acked = {r["write_key"] for r in csv.DictReader(fh) if r["ack"] == "1"}
    assert acked and acked <= set(final["rows"])
