"""Load beyond one machine, the parts without Locust: the master's address, the argv, the
relay of workers.jsonl, the load's health and the write rule for a lost worker's keys."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from harness.errors import ScenarioError
from harness.faults.timeline import TimelineLog
from harness.load.command import locust_argv
from harness.load.remote import parse_hostport
from harness.load.workers import WorkerRelay
from harness.records import FinalReadRecord, TimelineEvent
from harness.scenario.loader import loads_scenario
from harness.scenario.writer import scenario_to_toml
from harness.verify.load_health import load_health
from harness.verify.writes import WriteLedger, lost_worker_keys
from harness.verify.writes import account_writes as _account_writes


def account_writes(*args: Any) -> dict[str, Any]:
    """The ``writes`` section as result.json holds it."""
    return _account_writes(*args).to_json()


def test_parse_hostport() -> None:
    assert parse_hostport("10.0.0.1:5600") == ("10.0.0.1", 5600)
    assert parse_hostport("node-a") == ("node-a", 5557)
    assert parse_hostport("[::1]:7000") == ("::1", 7000)
    for bad in (":5", "h:x", "h:70000"):
        with pytest.raises(ValueError):
            parse_hostport(bad)


def test_master_argv_waits_for_remote_workers() -> None:
    argv = locust_argv("c.json", "http://h", workers=0, users=4, spawn_rate=4, run_time_s=10,
                       expect_workers=2, master_bind=("10.1.0.1", 5601),
                       expect_workers_timeout_s=30)
    joined = " ".join(argv)
    assert "--master --expect-workers 2 --expect-workers-max-wait 30" in joined
    assert "--master-bind-host 10.1.0.1 --master-bind-port 5601" in joined
    assert "--master" not in locust_argv("c.json", "http://h", workers=2, users=4,
                                         spawn_rate=4, run_time_s=10)


def test_scenario_keys_round_trip_and_conflicts() -> None:
    text = ('[target]\nlisten_host = "10.2.0.1"\n[load]\nexpect_workers = 3\n'
            'master_bind = "10.2.0.1:5600"\nexpect_workers_timeout = "2m"\n')
    s = loads_scenario(text, 's.toml')
    assert (s.load.expect_workers, s.load.master_bind, s.load.expect_workers_timeout) == \
        (3, "10.2.0.1:5600", 120.0)
    assert s.target.listen_host == "10.2.0.1"
    again = loads_scenario(scenario_to_toml(s), 's.toml')
    assert again.load == s.load and again.target.listen_host == "10.2.0.1"
    assert loads_scenario("", "s.toml", overrides={"expect_workers": "2"}).load.expect_workers == 2
    with pytest.raises(ScenarioError, match="expect_workers"):
        loads_scenario("[load]\nworkers = 2\nexpect_workers = 2\n", "s.toml")
    with pytest.raises(ScenarioError, match="master_bind"):
        loads_scenario('[load]\nmaster_bind = "nohost"\n', "s.toml")


def _lines(path: Path) -> list[dict[str, Any]]:
    """The timeline's lines as written (a relayed worker line has no ``wall``)."""
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_relay_turns_complete_lines_into_timeline_events(tmp_path: Path) -> None:
    log = TimelineLog(tmp_path / "timeline.jsonl", time.monotonic())
    relay = WorkerRelay(tmp_path, log)
    path = tmp_path / "workers.jsonl"
    path.write_text(json.dumps({"event": "master", "t_s": 0.1}) + "\n"
                    + json.dumps({"event": "joined", "t_s": 1.0, "index": 0, "host": "a"}) + "\n"
                    + '{"event": "lo')  # a torn line waits for its end
    relay.poll()
    assert _lines(log.path) == [{"event": "worker_joined", "t_s": 1.0, "index": 0, "host": "a"}]
    with path.open("a") as fh:
        fh.write('st", "t_s": 5.0, "index": 0, "received": 10, "reason": "gone"}\n')
    relay.poll()
    last = _lines(log.path)[-1]
    assert last["event"] == "worker_lost" and last["t_s"] == 5.0
    assert relay.summary() == [{"index": 0, "host": "a", "status": "lost", "sent": None,
                                "received": 10}]


def _ev(event: str, t: float, **raw: Any) -> TimelineEvent:
    return TimelineEvent(event, t, extra=raw)


def test_load_health_degraded_by_a_lost_worker_or_missing_rows() -> None:
    whole = load_health([_ev("worker_joined", 1, index=0, host="a"),
                         _ev("worker_done", 9, index=0, sent=5, received=5, dropped=0)])
    assert whole["degraded"] is False and whole["lost"] == []
    lost = load_health([_ev("worker_joined", 1, index=0, host="a"),
                        _ev("worker_joined", 1, index=1, host="b"),
                        _ev("worker_lost", 6, index=1, received=40, reason="heartbeats",
                            last_rows_s=4.5),
                        _ev("worker_done", 9, index=0, sent=5, received=4, dropped=0)])
    assert lost["degraded"] is True and lost["lost"] == [1]
    assert "worker 1 (b) lost at 6.0 s: heartbeats, its last rows at 4.5 s; 40 rows" \
        in lost["reason"]
    assert "worker 0: 4 of 5 rows arrived" in lost["reason"]
    assert load_health([])["workers"] == [] and load_health([])["degraded"] is False


def test_a_lost_workers_key_without_a_row_is_unrecorded_not_unexpected() -> None:
    ledger = WriteLedger()
    ledger.add("k5-0-0-000001", 201, True)
    ledger.add("k5-1-0-000001", 0, False)  # in flight when worker 1 died: unknown outcome
    final = FinalReadRecord(ok=True, rows={"k5-0-0-000001": 1, "k5-1-0-000001": 1,
                                           "k5-1-0-000002": 1,  # worker 1's row never arrived
                                           "k5-2-0-000001": 1})  # nobody lost: unexpected
    writes = account_writes(ledger, final, lost_worker_keys(5, [1]))
    assert writes["unrecorded"] == 1 and writes["examples"]["unrecorded"] == ["k5-1-0-000002"]
    assert writes["unexpected"] == 1 and writes["examples"]["unexpected"] == ["k5-2-0-000001"]
    assert writes["recovered"] == 1 and writes["lost"] == 0
    plain = account_writes(ledger, final)
    assert plain["unexpected"] == 2 and "unrecorded" not in plain
    assert lost_worker_keys(5, []) is None
    match = lost_worker_keys(5, [1])
    assert match is not None and match("order-k5-1-3-000009") and not match("k5-11-0-000001")
    assert not match("k51-1-0-000001")
