"""Secrets stay out of the run directory and the console, and a run cleans up after itself on a
proxy server that outlives it.

One real run (~8 s of load) against a user's own database (``[postgres] provider = "dsn"``: an
embedded Postgres this module starts, with a role whose password holds '@' and '/', required
by scram-sha-256) through a Toxiproxy-compatible server given by URL (the embedded proxy,
started here as if it were a real Toxiproxy, holding a stale "postgres" proxy with a toxic
that a killed earlier run left). The target's environment holds a token and a DSN-ish value
with another password.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import asyncpg
import httpx
import pytest
from embedded_proxy_server import serve_embedded_proxy

from harness.errors import ScenarioError
from harness.provision.pg_probe import execute, fetch
from harness.provision.postgres import EmbeddedPostgres
from harness.provision.process import Supervisor
from harness.redact import registered_secrets
from harness.requests_file import open_requests, requests_path
from harness.run import RunOutcome, run_scenario
from harness.scenario.loader import load_scenario
from harness.scenario.secrets import restore_secrets

pytestmark = pytest.mark.integration

PASSWORD = "Zq9@hunter2/Secret-x7"  # '@' and '/': percent-encoded in the DSN
API_TOKEN = "tok-9f8e7d6c5b4a3928"
REPORTING_PASSWORD = "rep-pass-77aa66bb"
STALE_LATENCY_MS = 3000

SCENARIO = """
name = "secrets"
description = "a run whose DSN and target environment hold passwords"
seed = 3
duration = "8s"
warmup = "2s"
cooldown = "1s"

[target.env]
SERVICE_API_TOKEN = "{token}"
REPORTING_DB_URL = "postgresql://rep:{reporting}@127.0.0.1:1/rep"

[postgres]
provider = "dsn"
dsn = "{dsn}"

[proxy]
kind = "toxiproxy"
url = "{proxy_url}"

[[dependency]]
name = "cache"
upstream = "127.0.0.1:{cache_port}"

[load]
users = 4
spawn_rate = 4
wait_ms = [50, 100]
mix = {{ post_message = 3, read_history = 1, join_room = 1 }}

[[fault]]
at = "3s"
for = "2s"
action = "network.latency"
latency = 20
jitter = 0

[slo.run]
lost_writes = "== 0"
"""


@dataclass
class SecretRun:
    outcome: RunOutcome
    console: str
    scenario_path: Path
    dsn: str
    admin_secrets: frozenset[str]
    proxy_url: str
    proxies_after: dict[str, dict[str, object]]


@pytest.fixture(scope="module")
def password_pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[EmbeddedPostgres, str]]:
    """An embedded Postgres with a role ``app`` that must log in with PASSWORD; its DSN."""
    with EmbeddedPostgres(log_dir=tmp_path_factory.mktemp("pg-logs"), fsync=False) as pg:
        execute(pg.dsn, f"create role app login superuser password '{PASSWORD}'")
        execute(pg.dsn, "create database appdb owner app")
        hba = pg.data_dir / "pg_hba.conf"
        hba.write_text("host all app 127.0.0.1/32 scram-sha-256\n" + hba.read_text())
        fetch(pg.dsn, "select pg_reload_conf()")
        dsn = f"postgresql://app:{quote(PASSWORD, safe='')}@127.0.0.1:{pg.port}/appdb"
        no_password = f"postgresql://app@127.0.0.1:{pg.port}/appdb"
        with pytest.raises(asyncpg.InvalidPasswordError):  # the password is really needed
            fetch(no_password, "select 1")
        assert fetch(dsn, "select 1")[0][0] == 1
        yield pg, dsn


@pytest.fixture(scope="module")
def proxy_by_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The embedded proxy server, started here and handed to the run by URL only."""
    with Supervisor(tmp_path_factory.mktemp("proxy-logs")) as sup:
        yield serve_embedded_proxy(sup)


@pytest.fixture(scope="module")
def secret_run(password_pg: tuple[EmbeddedPostgres, str], proxy_by_url: str,
               tmp_path_factory: pytest.TempPathFactory) -> SecretRun:
    _pg, dsn = password_pg
    api = httpx.Client(base_url=proxy_by_url, timeout=5)
    # what a SIGKILLed earlier run left: its proxies, one with a toxic; and someone else's
    for name in ("postgres", "cache", "not-ours"):
        assert api.post("/proxies", json={"name": name, "upstream": "127.0.0.1:9"}).status_code == 201
    toxic = {"type": "latency", "attributes": {"latency": STALE_LATENCY_MS}}
    assert api.post("/proxies/postgres/toxics", json=toxic).status_code == 200
    tmp = tmp_path_factory.mktemp("secret-run")
    path = tmp / "secrets.toml"
    path.write_text(SCENARIO.format(token=API_TOKEN, reporting=REPORTING_PASSWORD, dsn=dsn,
                                    proxy_url=proxy_by_url, cache_port=9))
    before = registered_secrets()
    console = io.StringIO()
    with contextlib.redirect_stdout(console), contextlib.redirect_stderr(console):
        outcome = run_scenario(path, reports_dir=tmp / "reports", quiet=False)
    proxies_after = api.get("/proxies").json()
    api.close()
    return SecretRun(outcome, console.getvalue(), path, dsn, registered_secrets() - before,
                     proxy_by_url, proxies_after)


def _secret_forms(run: SecretRun) -> set[str]:
    forms = {PASSWORD, quote(PASSWORD, safe=""), quote(PASSWORD), "hunter2", API_TOKEN,
             REPORTING_PASSWORD}
    return forms | {s for s in run.admin_secrets if len(s) >= 12}


def test_the_run_completes(secret_run: SecretRun) -> None:
    assert secret_run.outcome.status == "complete", (secret_run.outcome.error, secret_run.console)
    final = json.loads((secret_run.outcome.run_dir / "final_read.json").read_text())
    assert final["ok"] and final["rows"], "the writes were read back with the password"


def test_no_file_of_the_run_directory_nor_the_console_holds_a_secret(secret_run: SecretRun) -> None:
    """Provoke: a DSN password (with '@' and '/'), a token and a DSN-ish value in the target's
    environment, plus the admin token. Must hold: not one file of the run directory (scenario,
    run.json, timeline, processes.jsonl, every child's log, reports) and not the console output
    holds any of them, in any encoding."""
    run_dir = secret_run.outcome.run_dir
    forms = _secret_forms(secret_run)
    assert secret_run.admin_secrets, "the admin token was registered for redaction"
    files = [p for p in run_dir.rglob("*") if p.is_file()]
    names = {p.relative_to(run_dir).as_posix() for p in files}
    assert {"scenario.toml", "run.json", "timeline.jsonl", "logs/processes.jsonl",
            "report.md"} <= names, names
    hits = [(p.relative_to(run_dir).as_posix(), form) for p in files for form in forms
            if form.encode() in p.read_bytes()]
    assert hits == []
    assert [form for form in forms if form in secret_run.console] == []
    assert "secrets" in secret_run.console  # the console did print the run's progress


def test_run_directory_is_private(secret_run: SecretRun) -> None:
    run_dir = secret_run.outcome.run_dir
    assert stat.S_IMODE(run_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((run_dir / "logs").stat().st_mode) == 0o700
    for name in ("scenario.toml", "run.json", "timeline.jsonl", "logs/processes.jsonl"):
        assert stat.S_IMODE((run_dir / name).stat().st_mode) == 0o600, name
    for log in (run_dir / "logs").glob("*.log"):
        assert stat.S_IMODE(log.stat().st_mode) == 0o600, log.name


def test_recorded_scenario_replays_with_secrets_from_the_environment(secret_run: SecretRun) -> None:
    """scenario.toml holds *** where the secrets were; the replay takes them from the
    environment (PGPASSWORD, and each [target.env] name) and says which one is missing."""
    recorded = secret_run.outcome.run_dir / "scenario.toml"
    text = recorded.read_text()
    assert "app:***@" in text and 'SERVICE_API_TOKEN = "***"' in text
    loaded = load_scenario(recorded)
    with pytest.raises(ScenarioError, match="PGPASSWORD") as info:
        restore_secrets(loaded, {"SERVICE_API_TOKEN": "x", "REPORTING_DB_URL": "y"})
    assert PASSWORD not in str(info.value)
    with pytest.raises(ScenarioError, match="SERVICE_API_TOKEN"):
        restore_secrets(loaded, {"PGPASSWORD": PASSWORD})
    environ = {"PGPASSWORD": PASSWORD, "SERVICE_API_TOKEN": API_TOKEN,
               "REPORTING_DB_URL": f"postgresql://rep:{REPORTING_PASSWORD}@127.0.0.1:1/rep"}
    restored = restore_secrets(loaded, environ)
    original = load_scenario(secret_run.scenario_path)
    assert restored.postgres == original.postgres and restored.target == original.target
    assert restored.postgres.dsn == secret_run.dsn


def test_stale_proxies_of_a_killed_run_are_replaced_and_ours_removed(secret_run: SecretRun) -> None:
    """Provoke: the proxy server (given by URL) still holds "postgres" and "cache" from a run
    that was SIGKILLed, "postgres" with a 3 s latency toxic. Must hold: the run starts (no
    409), its "postgres" proxy carries no stale toxic (no request took the 3 s), and at the end
    its proxies are gone while another user's proxy is left alone."""
    assert secret_run.outcome.status == "complete", secret_run.outcome.error
    with open_requests(requests_path(secret_run.outcome.run_dir) or "requests.csv") as fh:
        latencies = sorted(float(line.split(",")[4]) for line in list(fh)[1:])
    assert latencies and latencies[len(latencies) // 2] < STALE_LATENCY_MS / 3, latencies[-5:]
    assert set(secret_run.proxies_after) == {"not-ours"}


def test_a_run_that_cannot_be_carried_out_says_so_without_the_password(
        password_pg: tuple[EmbeddedPostgres, str], tmp_path: Path) -> None:
    """Provoke: the migration step fails; its error quotes its command line and output. Must
    hold: run.json's error and the console message say why (the command included), without
    the password; the run directory is private."""
    _pg, dsn = password_pg
    path = tmp_path / "broken.toml"
    path.write_text(f'''name = "broken"
duration = "8s"
[target]
migrate_to = "999"
env = {{ SERVICE_API_TOKEN = "{API_TOKEN}" }}
[postgres]
provider = "dsn"
dsn = "{dsn}"
''')
    console = io.StringIO()
    with contextlib.redirect_stdout(console), contextlib.redirect_stderr(console):
        outcome = run_scenario(path, reports_dir=tmp_path / "reports", quiet=True)
    assert outcome.status == "failed" and outcome.exit_code == 2
    record = json.loads((outcome.run_dir / "run.json").read_text())
    assert "migrating the database to 999 failed" in record["error"], record["error"]
    # the command is quoted; the DSN went by environment, so it is not on the command line
    assert "reference_impl migrate up --target 999" in record["error"], record["error"]
    assert "--dsn" not in record["error"]
    assert "could not be carried out" in console.getvalue()
    assert "migrate up --target 999" in console.getvalue()
    forms = {PASSWORD, quote(PASSWORD, safe=""), "hunter2", API_TOKEN}
    texts = {"console": console.getvalue(), "error": str(outcome.error),
             **{p.name: p.read_text() for p in outcome.run_dir.rglob("*") if p.is_file()}}
    assert [(name, form) for name, text in texts.items() for form in forms if form in text] == []
    assert os.stat(outcome.run_dir).st_mode & 0o077 == 0
