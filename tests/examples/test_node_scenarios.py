"""The shipped Node.js example scenarios, run as a user would: a service in another language,
with its own API and probes, driven by declared requests, faulted, and judged.

Real parts throughout: the embedded Postgres and proxy, ``node server.js`` supervised by the
harness, Locust. The scenarios run at their own (short) durations.
"""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest

from harness.requests_file import REQUESTS_GZ
from harness.run import run_scenario

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "node-service"
pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed"),
    pytest.mark.skipif(not (EXAMPLE / "node_modules").is_dir(),
                       reason="examples/node-service/node_modules is missing: run ./dev.sh setup"),
]


def _slos(result: dict) -> dict[str, dict]:
    return {s["id"]: s for s in result["slos"]}


def test_node_service_survives_its_faults(tmp_path: Path) -> None:
    """Provoke: a Postgres restart, latency on the service's database link and a SIGKILL of the
    service, under a login-then-order load. Must hold: every fault applied, every SLO passes,
    the orders are read back from the service's own table and none acknowledged is lost."""
    outcome = run_scenario(EXAMPLE / "scenario.toml", reports_dir=tmp_path, quiet=True)
    assert outcome.status == "complete", outcome.error
    result = outcome.result
    assert result is not None
    assert outcome.exit_code == 0, {k: (v["value"], v["verdict"]) for k, v in _slos(result).items()}
    assert all(v["verdict"] == "pass" for v in _slos(result).values())
    writes = result["writes"]
    assert writes["acknowledged"] > 100 and writes["read"] >= writes["acknowledged"] - 5
    assert writes["lost"] == 0 and writes["duplicated"] == 0
    events = [json.loads(x) for x in (outcome.run_dir / "timeline.jsonl").read_text().splitlines()]
    applied = [e["action"] for e in events if e["event"] == "apply" and e["ok"]]
    assert applied == ["postgres.restart", "network.latency", "app.kill"]
    run = json.loads((outcome.run_dir / "run.json").read_text())
    assert run["profile"] == "command target" and run["app"]["restarts"] == 1
    assert run["app"]["probes"] == {"live": "/healthz", "ready": "/readyz", "stats": None}
    rows = gzip.decompress((outcome.run_dir / REQUESTS_GZ).read_bytes()).decode().splitlines()
    names = {r.split(",")[1] for r in rows[1:]}
    assert names == {"login", "place_order", "get_order", "list_orders"}
    run_metrics = result["metrics"]["run"]
    assert run_metrics["uptime"] is not None  # from /readyz
    # no stats endpoint: the service's own counters are not measured, never 0
    assert run_metrics["unhandled_errors"] is None
    assert run_metrics["memory_warnings_per_hour"] is None
    assert run_metrics["stderr_unhandled_errors"] == 0  # its log was scanned


def test_node_service_planted_ack_before_commit_is_caught(tmp_path: Path) -> None:
    """Negative control: the service acknowledges orders before they commit; a SIGKILL and a
    Postgres restart must lose some, and lost_writes must fail naming their keys."""
    outcome = run_scenario(EXAMPLE / "scenario-ack-before-commit.toml", reports_dir=tmp_path,
                           quiet=True)
    assert outcome.status == "complete", outcome.error
    assert outcome.result is not None
    assert outcome.exit_code == 0, "the control must fail exactly as it declares"
    slo = _slos(outcome.result)["lost_writes@run"]
    assert slo["verdict"] == "fail" and slo["value"] > 0
    assert slo["evidence"]["keys"] and all(k.startswith("k12-") for k in slo["evidence"]["keys"])


NO_PROBES = """
name = "node-no-probes"
seed = 3
duration = "8s"
warmup = "2s"
cooldown = "1s"

[target]
kind = "command"
command = "node server.js"
workdir = "{workdir}"

[load]
users = 2
[[load.request]]
name = "list_orders"
path = "/orders?limit=5"

[slo.run]
uptime = ">= 99%"
unhandled_errors = "== 0"
memory_warnings_per_hour = "< 5"
pool_saturation = "< 1%"
availability = ">= 0%"
"""


def test_a_service_without_probes_is_not_measured_never_passed(tmp_path: Path) -> None:
    """A service that exposes no health, readiness or stats endpoint: the checks that need them
    are 'not measured' (unknown, which fails the run), never a pass; what the load measures
    (availability) is still judged."""
    path = tmp_path / "no-probes.toml"
    path.write_text(NO_PROBES.format(workdir=EXAMPLE))
    outcome = run_scenario(path, reports_dir=tmp_path / "reports", quiet=True)
    assert outcome.status == "complete", outcome.error
    assert outcome.result is not None
    slos = _slos(outcome.result)
    for slo_id in ("uptime@run", "unhandled_errors@run", "memory_warnings_per_hour@run",
                   "pool_saturation@run"):
        assert slos[slo_id]["verdict"] == "unknown", (slo_id, slos[slo_id])
        assert "not measured" in slos[slo_id]["evidence"]["reason"]
    assert slos["availability@run"]["verdict"] == "pass"
    assert outcome.exit_code == 1
    report = (outcome.run_dir / "report.md").read_text()
    assert "not measured" in report


def test_own_locustfile_through_the_careful_client(tmp_path: Path) -> None:
    """A user's own locustfile (examples/node-service/locustfile.py) sends through ChaosUser:
    its orders are recorded with their keys and read back; a SIGTERM'd service drains."""
    outcome = run_scenario(EXAMPLE / "scenario-locustfile.toml", reports_dir=tmp_path, quiet=True)
    assert outcome.status == "complete", outcome.error
    assert outcome.result is not None and outcome.exit_code == 0, _slos(outcome.result)
    writes = outcome.result["writes"]
    assert writes["acknowledged"] > 50 and writes["lost"] == 0
    rows = gzip.decompress((outcome.run_dir / REQUESTS_GZ).read_bytes()).decode().splitlines()
    assert {r.split(",")[1] for r in rows[1:]} == {"login", "place_order", "get_order"}


KEYLESS_LOCUSTFILE = '''
from locust import task

from harness.load.client import ChaosUser


class Careless(ChaosUser):
    @task
    def order(self) -> None:  # a write sent as a plain request: no key is recorded
        self.send("GET", "/orders?limit=1", name="list_orders")
'''

KEYLESS = """
name = "keyless"
duration = "6s"
warmup = "1s"
cooldown = "1s"

[target]
kind = "command"
command = "node server.js"
workdir = "{workdir}"
ready_path = "/readyz"
locustfile = "careless.py"

[load]
users = 2

[slo.run]
lost_writes = "== 0"

[verify.writes]
sql = "select order_key, count(*) from orders group by 1"
"""


def test_a_locustfile_that_records_no_write_key_is_an_error(tmp_path: Path) -> None:
    """The scenario judges writes but the locustfile never recorded a write key: the run cannot
    be judged (exit 2, the message says what to do), rather than passing on an empty ledger."""
    (tmp_path / "careless.py").write_text(KEYLESS_LOCUSTFILE)
    path = tmp_path / "keyless.toml"
    path.write_text(KEYLESS.format(workdir=EXAMPLE))
    outcome = run_scenario(path, reports_dir=tmp_path / "reports", quiet=True)
    assert outcome.exit_code == 2 and outcome.status == "failed"
    assert outcome.error is not None and "recorded no write key" in outcome.error
    assert "careless.py" in outcome.error
    run = json.loads((outcome.run_dir / "run.json").read_text())
    assert run["status"] == "failed" and "write key" in run["error"]


def test_a_second_dependency_behind_its_own_proxy(tmp_path: Path) -> None:
    """Provoke: the service's pricing API (a second upstream, started by the harness) goes down,
    then slow, through its own proxy. Must hold: quotes fail during those windows and only
    then, orders never do, Postgres' link is untouched, and the run passes its SLOs."""
    outcome = run_scenario(EXAMPLE / "scenario-upstream.toml", reports_dir=tmp_path, quiet=True)
    assert outcome.status == "complete", outcome.error
    assert outcome.result is not None and outcome.exit_code == 0, _slos(outcome.result)
    run = json.loads((outcome.run_dir / "run.json").read_text())
    (dep,) = run["dependencies"]
    assert dep["name"] == "pricing" and dep["pid"] and dep["listen"] != dep["upstream"]
    events = [json.loads(x) for x in (outcome.run_dir / "timeline.jsonl").read_text().splitlines()]
    windows = [(e["t_s"], next(r["t_s"] for r in events if r["event"] == "remove"
                               and r["fault"] == e["fault"]))
               for e in events if e["event"] == "apply"]
    assert all(e["params"]["proxy"] == "pricing" for e in events if e["event"] == "apply")
    log = gzip.decompress((outcome.run_dir / REQUESTS_GZ).read_bytes()).decode()
    rows = [r.split(",") for r in log.splitlines()[1:]]

    def inside(t: float) -> bool:  # a quote started in the last second outlives the toxic
        return any(lo + 0.3 <= t <= hi - 1.2 for lo, hi in windows)

    def outside(t: float) -> bool:
        return all(t < lo - 0.5 or t > hi + 3.0 for lo, hi in windows)

    quotes = [(float(r[0]), r[3] == "1") for r in rows if r[1] == "quote"]
    orders = [(float(r[0]), r[3] == "1") for r in rows if r[1] == "place_order"]
    assert quotes and all(not ok for t, ok in quotes if inside(t))
    assert all(ok for t, ok in quotes if outside(t))
    assert len(orders) > 50 and all(ok for _, ok in orders)


URL_TARGET = """
name = "url-target"
seed = 4
duration = "14s"
warmup = "2s"
cooldown = "2s"

[target]
kind = "url"
url = "http://127.0.0.1:{port}"
health_path = "/healthz"
ready_path = "/readyz"

[postgres]
listen = "127.0.0.1:{pg_port}"   # fixed: the service was told to connect here

[load]
users = 3
[[load.request]]
name = "login"
method = "POST"
path = "/login"
on_start = true
weight = 0
json = {{ customer = "c-{{user}}" }}
capture = {{ token = "token" }}
[[load.request]]
name = "place_order"
method = "POST"
path = "/orders"
headers = {{ Authorization = "Bearer {{token}}" }}
json = {{ order_key = "{{key}}", item = "fig", qty = 1 }}
write_key = "{{key}}"

[[fault]]
at = "4s"
for = "3s"
action = "network.down"
proxy = "postgres"

[slo.fault]
detect_seconds = "< 3"

[slo.run]
lost_writes = "== 0"

[verify.writes]
sql = "select order_key, count(*) from orders group by 1"
"""


def test_a_service_already_running_reaches_the_proxy_at_a_fixed_address(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A service the harness did not start (kind = "url") was pointed at the Postgres proxy's
    fixed listen address, with the password the embedded Postgres is given by
    CHAOSHARNESS_PG_PASSWORD: the link going down reaches it (readiness 503 detected), and its
    orders are accounted from the embedded Postgres the harness started."""
    from harness.provision.ports import free_port
    from harness.provision.process import Supervisor

    port, pg_port = free_port(), free_port()
    path = tmp_path / "url.toml"
    path.write_text(URL_TARGET.format(port=port, pg_port=pg_port))
    password = "url-target-pw-1f2e3d"
    monkeypatch.setenv("CHAOSHARNESS_PG_PASSWORD", password)
    env = {"PATH": "/usr/bin:/bin:/usr/local/bin", "PORT": str(port), "DATABASE_URL":
           f"postgresql://postgres:{password}@127.0.0.1:{pg_port}/postgres?sslmode=disable"}
    with Supervisor(tmp_path / "svc-logs") as sup:
        sup.spawn("node-service", [shutil.which("node") or "node", "server.js"], env=env,
                  cwd=EXAMPLE)
        outcome = run_scenario(path, reports_dir=tmp_path / "reports", quiet=True)
    assert outcome.status == "complete", outcome.error
    assert outcome.result is not None and outcome.exit_code == 0, _slos(outcome.result)
    assert outcome.result["writes"]["acknowledged"] > 20
    detect = _slos(outcome.result)["detect_seconds@fault"]
    assert detect["verdict"] == "pass" and detect["value"] is not None


CRASHING = """
name = "crashing"
duration = "6s"
warmup = "1s"

[target]
kind = "command"
command = "node -e 'process.exit(3)'"
ready_path = "/readyz"

[load]
users = 1
[[load.request]]
name = "x"
path = "/"
"""


def test_a_service_that_exits_during_start_fails_the_run_at_once(tmp_path: Path) -> None:
    """A command target that dies while starting is reported as such (with its exit code) at
    once, not as a service that was 'not ready within 30 s'."""
    path = tmp_path / "crashing.toml"
    path.write_text(CRASHING)
    outcome = run_scenario(path, reports_dir=tmp_path / "reports", quiet=True)
    assert outcome.exit_code == 2 and outcome.error is not None
    assert "exited during start" in outcome.error and "not ready within" not in outcome.error
