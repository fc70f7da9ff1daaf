"""Declared requests (``[[load.request]]``) in a real Locust run against a real HTTP server.

The scenario's own requests drive fake_api.py (which misbehaves on purpose for some
keys): captured values feed later requests, writes carry seeded keys and are retried
with the same key, ``ok_status`` / ``ok_json`` decide what is done, and every request
the server saw is a row.
"""

from __future__ import annotations

import json
import re
import zlib
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from test_locust_run import _read, _run_locust, _start_api

from harness.provision.process import Supervisor
from harness.scenario.loader import loads_scenario

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SCENARIO = """
name = "declared"
seed = 7
[target]
kind = "url"
url = "http://127.0.0.1:1"
[load]
users = 6
[[load.request]]
name = "join_room"
method = "POST"
path = "/api/sessions"
on_start = true
weight = 1
json = { user = "u-{user}", room = "room-{int:0:2}" }
capture = { sid = "session_id", room = "room" }
[[load.request]]
name = "post_message"
method = "POST"
path = "/api/rooms/{room}/messages"
weight = 6
headers = { Idempotency-Key = "{key}" }
json = { session_id = "{sid}", text = "m {key} {choice:a|b}", n = "{seq}" }
write_key = "{key}"
ok_json = "id"
[[load.request]]
name = "read_history"
path = "/api/rooms/{room}/messages?limit={int:1:50}"
weight = 2
[[load.request]]
name = "lookup_node"
path = "/api/nodes/node-{int:1:6}"
weight = 2
ok_status = ["2xx", 404]
ok_json = "node_id"
"""


def test_declared_requests_capture_retry_and_judge(tmp_path: Path) -> None:
    """Provoke: a login-then-post flow declared in TOML against a server that answers 503,
    drops connections and answers late for some keys. Must hold: the captured session id
    reaches every post; each write is retried with its own key until acknowledged; a 404
    the request allows is ok unless the ``ok_json`` path is missing from its body."""
    scenario = loads_scenario(SCENARIO, "declared.toml")
    requests = tuple(r.to_dict() for r in scenario.load.requests)
    with Supervisor(tmp_path / "logs") as sup:
        server_log = tmp_path / "server.log"
        host = _start_api(sup, server_log)
        out = _run_locust(tmp_path, sup, host, workers=0, seconds=4.0, requests=requests)
    rows = _read(out)
    seen = Counter(line.split("\t")[0] for line in server_log.read_text().splitlines())
    assert Counter(r["name"] for r in rows) == seen
    assert all(r["ok"] == "1" for r in rows if r["name"] in ("join_room", "read_history"))
    # node-6 is a 404 with an empty body: allowed by ok_status, refused by ok_json
    lookups = [r for r in rows if r["name"] == "lookup_node"]
    assert {r["status"] for r in lookups} == {"200", "404"}, lookups
    assert all((r["ok"] == "1") == (r["status"] == "200") for r in lookups)
    writes = [r for r in rows if r["name"] == "post_message"]
    assert len(writes) > 20 and all(r["status"] != "404" for r in writes)  # sid was captured
    by_key: dict[str, list[dict[str, str]]] = defaultdict(list)
    for r in writes:
        assert re.fullmatch(r"k7-0-\d+-\d{6}", r["write_key"]), r
        by_key[r["write_key"]].append(r)
    retried = 0
    for key, attempts in by_key.items():
        attempts.sort(key=lambda r: int(r["attempt"]))
        assert [int(r["attempt"]) for r in attempts] == list(range(1, len(attempts) + 1))
        assert attempts[-1]["ack"] == "1" and attempts[-1]["status"] in ("200", "201"), attempts
        assert all(a["ack"] == "0" for a in attempts[:-1])
        crc = zlib.crc32(key.encode())
        if crc % 4 == 0 or crc % 10 in (1, 2):
            assert len(attempts) == 2, (key, attempts)
            retried += 1
    assert retried > 0


def test_load_config_carries_declared_requests(tmp_path: Path) -> None:
    """The conductor's load config round-trips the declared requests as JSON for Locust."""
    from harness.load.config import LoadRunConfig

    scenario = loads_scenario(SCENARIO, "declared.toml")
    config = LoadRunConfig.from_scenario(scenario, requests_dir=tmp_path, t0_monotonic=1.0)
    back = LoadRunConfig.read(config.write(tmp_path / "load.json"))
    assert back.declared_requests() == scenario.load.requests
    assert json.loads((tmp_path / "load.json").read_text())["requests"][1]["write_key"] == "{key}"
