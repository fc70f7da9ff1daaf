"""The Node.js example service (examples/node-service) against real parts: an embedded
Postgres of this module's own (the tests stop and start it), ``node server.js`` and
``node upstream.js`` as supervised subprocesses (own process group, ended by pid), real HTTP.
"""

from __future__ import annotations

import functools
import re
import shutil
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from harness.provision.pg_probe import execute, fetch
from harness.provision.postgres import EmbeddedPostgres
from harness.provision.process import ChildProcess, Supervisor
from harness.provision.ready import wait_until

SERVICE_DIR = Path(__file__).resolve().parents[2] / "examples" / "node-service"
NODE = shutil.which("node")

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(NODE is None, reason="node is not installed"),
    pytest.mark.skipif(
        not (SERVICE_DIR / "node_modules").is_dir(),
        reason="examples/node-service/node_modules is missing: run ./dev.sh setup",
    ),
]

_LISTENING = re.compile(r"listening on (http://\S+)")
T = TypeVar("T")


@dataclass
class Node:
    """A running ``node <script>`` and its base URL."""

    child: ChildProcess
    url: str
    supervisor: Supervisor

    def request(self, method: str, path: str, timeout_s: float = 5.0, **kw: Any) -> httpx.Response:
        # A fresh client per call: no pooled keep-alive socket outlives a killed process.
        with httpx.Client(base_url=self.url, timeout=timeout_s) as client:
            return client.request(method, path, **kw)

    def status(self, path: str) -> int:
        """The status of GET ``path``, 0 when there was no answer."""
        try:
            return self.request("GET", path, timeout_s=2.0).status_code
        except httpx.HTTPError:
            return 0

    def wait_status(self, path: str, status: int, timeout_s: float) -> float:
        return wait_until(lambda: self.status(path) == status, timeout_s,
                          what=f"{self.child.name} {path} -> {status}",
                          on_timeout=self.child.log_tail)

    def log(self) -> str:
        return self.child.log_path.read_text(errors="replace")

    def assert_alive(self) -> None:
        """Still running: Node's default crash on an unhandled rejection did not happen."""
        assert self.child.alive, self.log()[-3000:]
        assert "UnhandledPromiseRejection" not in self.log()

    def signal(self, sig: int, timeout_s: float = 10.0) -> int | None:
        """Send ``sig`` to the process alone and wait for its exit code."""
        self.child.signal_process(sig)
        code = self.child.wait(timeout_s)
        self.supervisor.reap(self.child)
        return code


def start_node(supervisor: Supervisor, script: str, env: dict[str, str], name: str) -> Node:
    """Spawn ``node script`` on PORT=0 (the kernel picks a free loopback port) and wait for
    the ``listening on http://...`` line, which carries the port it bound."""
    full_env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "PORT": "0", **env}
    child = supervisor.spawn(name, [str(NODE), script], env=full_env, cwd=SERVICE_DIR,
                             stop_timeout=10.0)

    def url() -> str | None:
        match = _LISTENING.search(child.log_path.read_text(errors="replace"))
        return match.group(1) if match else None

    wait_until(lambda: child.poll() is not None or url() is not None, 15.0,
               what=f"{name} listening", on_timeout=child.log_tail)
    found = url()
    assert found is not None, f"{name} exited with {child.poll()}:\n{child.log_tail()}"
    return Node(child, found, supervisor)


def start_service(supervisor: Supervisor, dsn: str, name: str = "node-service",
                  **env: str) -> Node:
    return start_node(supervisor, "server.js", {"DATABASE_URL": dsn, **env}, name)


@pytest.fixture(scope="module")
def pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    """A Postgres of this module's own, so the tests may stop and start it (each test
    leaves it running)."""
    log_dir = tmp_path_factory.mktemp("node-service-pg")
    with EmbeddedPostgres(log_dir=log_dir, fsync=False, max_connections=100) as server:
        yield server


@pytest.fixture
def db(pg: EmbeddedPostgres) -> Iterator[str]:
    """A DSN to a fresh database, dropped (with its connections) after the test."""
    if pg.pid is None:  # a failed test may have left it stopped
        pg.start()
    name = f"node_{uuid.uuid4().hex[:10]}"
    execute(pg.dsn, f'create database "{name}"')
    try:
        yield pg.dsn_for(name)
    finally:
        if pg.pid is None:
            pg.start()
        execute(pg.dsn, f'drop database if exists "{name}" with (force)')


def login(svc: Node, customer: str = "ada") -> dict[str, str]:
    response = svc.request("POST", "/login", json={"customer": customer})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["customer"] == customer and re.fullmatch(r"[0-9a-f]{32}", body["token"])
    return {"Authorization": f"Bearer {body['token']}"}


def order(key: str, item: str = "widget", qty: int = 2) -> dict[str, Any]:
    return {"order_key": key, "item": item, "qty": qty}


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    started = time.monotonic()
    result = fn()
    return result, time.monotonic() - started


def test_orders_are_stored_once_and_read_back(db: str, supervisor: Supervisor) -> None:
    """Ready once the schema is in place; an order is 201 then 200 with the same row for the
    same key, stored once in Postgres; auth, validation and unknown routes are refused."""
    svc = start_service(supervisor, db)
    svc.wait_status("/readyz", 200, 15)
    assert svc.request("GET", "/healthz").json() == {"status": "ok"}
    auth = login(svc)

    first = svc.request("POST", "/orders", json=order("k-1"), headers=auth)
    assert first.status_code == 201, first.text
    again = svc.request("POST", "/orders", json=order("k-1", qty=9), headers=auth)
    assert again.status_code == 200, again.text
    assert again.json() == first.json()
    assert first.json()["order_key"] == "k-1" and first.json()["customer"] == "ada"
    rows = fetch(db, "select id, customer, item, qty from orders where order_key = 'k-1'")
    assert [tuple(r) for r in rows] == [(first.json()["id"], "ada", "widget", 2)]

    got = svc.request("GET", "/orders/k-1")
    assert got.status_code == 200 and got.json() == first.json()
    assert svc.request("GET", "/orders/nope").status_code == 404
    assert svc.request("POST", "/orders", json=order("k-2"), headers=auth).status_code == 201
    listed = svc.request("GET", "/orders", params={"limit": 1}).json()["orders"]
    assert [o["order_key"] for o in listed] == ["k-2"]
    assert len(svc.request("GET", "/orders", params={"limit": 500}).json()["orders"]) == 2

    assert svc.request("POST", "/orders", json=order("k-3")).status_code == 401
    bad_token = {"Authorization": "Bearer " + "0" * 32}
    assert svc.request("POST", "/orders", json=order("k-3"), headers=bad_token).status_code == 401
    assert svc.request("POST", "/orders", json={"order_key": "k-3"}, headers=auth).status_code == 400
    assert svc.request("POST", "/orders", content=b"{not json", headers=auth).status_code == 400
    assert svc.request("POST", "/login", json={}).status_code == 400
    assert svc.request("GET", "/quote", params={"item": "x"}).status_code == 404  # no upstream
    assert svc.request("GET", "/nowhere").status_code == 404
    assert fetch(db, "select count(*) from orders")[0][0] == 2
    svc.assert_alive()


def test_postgres_outage_is_503_fast_and_recovers(
    pg: EmbeddedPostgres, db: str, supervisor: Supervisor
) -> None:
    """With Postgres stopped readiness turns 503 by itself (no traffic), liveness stays 200
    and writes answer 503 Retry-After: 1 fast; after the start, ready again and writes work."""
    svc = start_service(supervisor, db)
    svc.wait_status("/readyz", 200, 15)
    auth = login(svc)
    assert svc.request("POST", "/orders", json=order("before"), headers=auth).status_code == 201

    pg.stop("fast")
    try:
        svc.wait_status("/readyz", 503, 3.0)  # only /readyz is asked: the probe noticed
        ready = svc.request("GET", "/readyz")
        assert ready.headers["Retry-After"] == "1"
        assert svc.status("/healthz") == 200
        for key in ("during-1", "during-2"):
            response, took = timed(
                functools.partial(svc.request, "POST", "/orders", json=order(key), headers=auth))
            assert response.status_code == 503, response.text
            assert response.headers["Retry-After"] == "1"
            assert took < 2.5, took
        response, took = timed(lambda: svc.request("GET", "/orders/before"))
        assert response.status_code == 503 and took < 2.5, (response.status_code, took)
    finally:
        pg.start()

    svc.wait_status("/readyz", 200, 10)
    after = svc.request("POST", "/orders", json=order("after"), headers=auth)
    assert after.status_code == 201, after.text
    keys = {r[0] for r in fetch(db, "select order_key from orders")}
    assert keys == {"before", "after"}
    svc.assert_alive()


def test_frozen_postgres_is_503_within_the_deadline(
    pg: EmbeddedPostgres, db: str, supervisor: Supervisor
) -> None:
    """A frozen Postgres (SIGSTOP: connections hang, nothing is refused) is the case the
    timeouts are for: readiness turns 503 and a write answers 503 within ~2 s, not never."""
    svc = start_service(supervisor, db)
    svc.wait_status("/readyz", 200, 15)
    auth = login(svc)
    pg.freeze()
    try:
        svc.wait_status("/readyz", 503, 3.0)
        response, took = timed(
            lambda: svc.request("POST", "/orders", json=order("frozen"), headers=auth))
        assert response.status_code == 503, response.text
        assert took < 2.5, took
    finally:
        pg.thaw()
    svc.wait_status("/readyz", 200, 10)
    # The insert sent before the 503 may have committed after the thaw: the outcome was
    # unknown, and a retry with the same key settles it (201 or 200, one row either way).
    retry = svc.request("POST", "/orders", json=order("frozen"), headers=auth)
    assert retry.status_code in (200, 201), retry.text
    assert fetch(db, "select count(*) from orders where order_key = 'frozen'")[0][0] == 1
    svc.assert_alive()


def test_starts_while_postgres_is_down(pg: EmbeddedPostgres, db: str,
                                       supervisor: Supervisor) -> None:
    """Listening at once with readiness 503; the schema is created once Postgres is up."""
    pg.stop("fast")
    try:
        svc = start_service(supervisor, db)
        assert svc.status("/healthz") == 200
        assert svc.status("/readyz") == 503
        assert svc.request("POST", "/login", json={"customer": "x"}).status_code == 503
        time.sleep(1.0)  # a few failed attempts: the process must survive them
        svc.assert_alive()
    finally:
        pg.start()
    svc.wait_status("/readyz", 200, 10)
    auth = login(svc)
    assert svc.request("POST", "/orders", json=order("late"), headers=auth).status_code == 201
    svc.assert_alive()


def test_sigterm_exits_0_and_tokens_survive_a_restart(db: str, supervisor: Supervisor) -> None:
    """SIGTERM drains and exits 0; a new process accepts the token issued by the old one."""
    svc = start_service(supervisor, db)
    svc.wait_status("/readyz", 200, 15)
    auth = login(svc)
    assert svc.request("POST", "/orders", json=order("t-1"), headers=auth).status_code == 201
    assert svc.signal(signal.SIGTERM) == 0, svc.log()[-3000:]

    again = start_service(supervisor, db, name="node-service-2")
    again.wait_status("/readyz", 200, 15)
    assert again.request("POST", "/orders", json=order("t-2"), headers=auth).status_code == 201
    assert again.signal(signal.SIGINT) == 0, again.log()[-3000:]


def test_ack_before_commit_loses_an_acknowledged_order(db: str,
                                                       supervisor: Supervisor) -> None:
    """The planted bug: 201 is sent before the commit, so a SIGKILL right after the answer
    loses an order the client was told is stored."""
    svc = start_service(supervisor, db, ACK_BEFORE_COMMIT="1")
    svc.wait_status("/readyz", 200, 15)
    auth = login(svc)
    response = svc.request("POST", "/orders", json=order("acked-then-lost"), headers=auth)
    assert response.status_code == 201, response.text
    supervisor.kill(svc.child)  # SIGKILL the process group at once, inside the commit window

    def absent() -> bool:
        return not fetch(db, "select 1 from orders where order_key = 'acked-then-lost'")

    assert absent()
    time.sleep(0.5)  # Postgres aborts the dead connection's transaction: it never appears
    assert absent()


def test_ack_before_commit_still_commits_without_a_crash(db: str,
                                                         supervisor: Supervisor) -> None:
    """Control for the test above: without the kill the acknowledged order is committed."""
    svc = start_service(supervisor, db, ACK_BEFORE_COMMIT="1")
    svc.wait_status("/readyz", 200, 15)
    auth = login(svc)
    response = svc.request("POST", "/orders", json=order("acked"), headers=auth)
    assert response.status_code == 201, response.text
    wait_until(lambda: bool(fetch(db, "select 1 from orders where order_key = 'acked'")), 3.0,
               what="the acknowledged order committed")
    assert svc.signal(signal.SIGTERM) == 0, svc.log()[-3000:]


def test_quote_follows_the_upstream(db: str, supervisor: Supervisor) -> None:
    """/quote answers the upstream's price; a frozen upstream is 503 after the 1 s timeout, a
    dead one 503 at once, and the service itself stays up."""
    upstream = start_node(supervisor, "upstream.js", {}, "upstream")
    assert upstream.status("/healthz") == 200
    svc = start_service(supervisor, db, UPSTREAM_URL=upstream.url)
    svc.wait_status("/readyz", 200, 15)

    quote = svc.request("GET", "/quote", params={"item": "tea"})
    assert quote.status_code == 200, quote.text
    price = upstream.request("GET", "/price", params={"item": "tea"}).json()["price"]
    assert quote.json() == {"item": "tea", "price": price}
    assert svc.request("GET", "/quote", params={"item": "tea"}).json()["price"] == price

    upstream.child.signal_process(signal.SIGSTOP)  # accepts connections, never answers
    try:
        response, took = timed(lambda: svc.request("GET", "/quote", params={"item": "tea"}))
        assert response.status_code == 503 and response.headers["Retry-After"] == "1"
        assert 0.9 < took < 2.0, took
    finally:
        upstream.child.signal_process(signal.SIGCONT)

    supervisor.kill(upstream.child)
    response, took = timed(lambda: svc.request("GET", "/quote", params={"item": "tea"}))
    assert response.status_code == 503 and response.headers["Retry-After"] == "1"
    assert took < 0.5, took
    assert svc.status("/readyz") == 200  # the upstream is not part of readiness
    svc.assert_alive()
