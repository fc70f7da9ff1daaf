"""A user's own service as the target: started and supervised from its command line (so process
faults reach it, with the proxy's DSN handed over in the named variable), or already running by
URL (process faults then refused when the scenario is loaded)."""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path

import pytest

from harness.errors import ScenarioError
from harness.run import run_scenario
from harness.scenario.loader import loads_scenario

pytestmark = pytest.mark.integration

COMMAND_SCENARIO = """
name = "own-service"
description = "the reference app started as a user's own service, by command line"
seed = 5
duration = "10s"
warmup = "2s"
cooldown = "1s"

[target]
kind = "command"
command = "{python} -m reference_impl serve --host 127.0.0.1 --port {{port}}"
url = "http://127.0.0.1:{port}"
ready_path = "/health/ready"
dsn_env = "DATABASE_URL"

[load]
users = 4
spawn_rate = 4
mix = {{ post_message = 3, read_history = 1, join_room = 1 }}

[[fault]]
at = "4s"
action = "app.kill"
restart_after = "0.5s"

[slo.run]
lost_writes = "== 0"
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_command_target_is_supervised_and_faulted(tmp_path: Path) -> None:
    """Provoke: SIGKILL a service the harness started from a command line. Must hold: the fault
    applies, the service comes back on its port, and the writes are read back."""
    path = tmp_path / "own-service.toml"
    path.write_text(COMMAND_SCENARIO.format(python=sys.executable, port=_free_port()))
    outcome = run_scenario(path, reports_dir=tmp_path / "reports", quiet=True)
    assert outcome.status == "complete", outcome.error
    events = [json.loads(x) for x in (outcome.run_dir / "timeline.jsonl").read_text().splitlines()]
    kill = next(e for e in events if e["event"] == "apply")
    assert kill["action"] == "app.kill" and kill["ok"], kill
    run = json.loads((outcome.run_dir / "run.json").read_text())
    assert run["app"]["restarts"] == 1
    assert any(e["signal"] == "SIGKILL" for e in run["app"]["exits"])
    final = json.loads((outcome.run_dir / "final_read.json").read_text())
    assert final["ok"] and final["rows"], "the service's writes must be read back from Postgres"
    assert outcome.result is not None and outcome.result["writes"]["lost"] == 0


def test_url_target_refuses_process_faults() -> None:
    """A service reached by URL cannot be killed by the harness: the scenario is rejected at load
    time, naming the fault."""
    text = COMMAND_SCENARIO.format(python=sys.executable, port=1).replace(
        'kind = "command"', 'kind = "url"').replace(
        'command = "' + sys.executable + ' -m reference_impl serve --host 127.0.0.1 --port {port}"\n',
        "")
    with pytest.raises(ScenarioError) as info:
        loads_scenario(text, "own.toml")
    assert "fault[0]" in str(info.value)
