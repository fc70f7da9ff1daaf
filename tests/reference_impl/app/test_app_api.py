"""The service API of the real app process (resilient profile, plus the naive profile where it
must differ): real Postgres, the app as a subprocess on port 0, real HTTP."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
from app_proc import ADMIN_TOKEN, RunningApp, create_database, drop_database, start_app

from harness.provision.pg_probe import fetch
from harness.provision.postgres import EmbeddedPostgres
from harness.provision.process import Supervisor

pytestmark = pytest.mark.integration

TASK_QUEUE = 50


@pytest.fixture(scope="module")
def app(module_supervisor: Supervisor, module_db: str) -> Iterator[RunningApp]:
    """One resilient app for the module, with a small task queue (50) to flood."""
    running = start_app(module_supervisor, module_db, name="api-resilient",
                        env={"REFERENCE_IMPL_TASK_MAX_QUEUE": str(TASK_QUEUE)})
    running.wait_ready(30)
    yield running
    assert running.terminate() == 0, running.log()[-3000:]


@pytest.fixture(scope="module")
def naive(module_supervisor: Supervisor, postgres: EmbeddedPostgres) -> Iterator[RunningApp]:
    """One naive app for the module, on a database of its own."""
    dsn = create_database(postgres, "naive")
    running = start_app(module_supervisor, dsn, name="api-naive", profile="naive")
    running.wait_ready(30)
    yield running
    running.terminate()
    drop_database(postgres, dsn)


def _session(app: RunningApp, room: str) -> str:
    response = app.post("/api/sessions", json={"user": "ada", "room": room})
    assert response.status_code == 201, response.text
    return str(response.json()["session_id"])


def _post(app: RunningApp, room: str, session_id: str, text: str, key: str | None):
    headers = {"Idempotency-Key": key} if key is not None else {}
    return app.post(f"/api/rooms/{room}/messages", json={"session_id": session_id, "text": text},
                    headers=headers)


def test_sessions_are_created_and_read_back(app: RunningApp) -> None:
    """POST /api/sessions is 201 with the contract's fields; GET finds it; unknown is 404."""
    created = app.post("/api/sessions", json={"user": "ada", "room": "lobby"})
    assert created.status_code == 201
    body = created.json()
    assert set(body) == {"session_id", "user", "room", "joined_at"}
    assert app.get(f"/api/sessions/{body['session_id']}").json() == body
    assert app.get("/api/sessions/nope").status_code == 404
    assert app.post("/api/sessions", json={"user": ""}).status_code == 422


def test_messages_are_idempotent_by_key(app: RunningApp, module_db: str) -> None:
    """Same key + same body: 200 with the same body and one row; other body: 409; no key: 400."""
    session = _session(app, "idem")
    key = f"k-{uuid.uuid4().hex}"
    first = _post(app, "idem", session, "hello", key)
    again = _post(app, "idem", session, "hello", key)
    other = _post(app, "idem", session, "changed", key)
    assert first.status_code == 201 and set(first.json()) == {"id", "key", "room", "created_at"}
    assert again.status_code == 200 and again.json() == first.json()
    assert other.status_code == 409
    assert _post(app, "idem", session, "hello", None).status_code == 400
    rows = fetch(module_db, "select count(*) from messages where idempotency_key = $1", key)
    assert rows[0][0] == 1


def test_history_pages_by_keyset_and_caps_the_limit(app: RunningApp) -> None:
    """Five messages in two-message pages: ids ascend without gaps or repeats; limit 501 is 422."""
    room = f"hist-{uuid.uuid4().hex[:8]}"
    session = _session(app, room)
    posted = [_post(app, room, session, f"m{i}", uuid.uuid4().hex).json()["id"] for i in range(5)]
    seen: list[int] = []
    after = 0
    for _ in range(5):
        page = app.get(f"/api/rooms/{room}/messages", params={"after_id": after, "limit": 2}).json()
        seen += [m["id"] for m in page["messages"]]
        if page["next_after_id"] is None:
            break
        after = page["next_after_id"]
    assert seen == posted
    assert app.get(f"/api/rooms/{room}/messages", params={"limit": 501}).status_code == 422
    export = app.get(f"/api/rooms/{room}/messages/export")
    assert export.headers["content-type"].startswith("application/x-ndjson")
    assert [line for line in export.text.splitlines() if line][0].startswith('{"id":')


def test_nodes_and_plans(app: RunningApp) -> None:
    """Nodes are found by node_id; a plan is 202, then done by the task manager; a failing one
    ends failed and is counted."""
    assert app.get("/api/nodes/node-1").json()["node_id"] == "node-1"
    assert app.get("/api/nodes/nowhere").status_code == 404
    accepted = app.post("/api/plans", json={"node_id": "node-1", "steps": [{"do": 1}, {"do": 2}]})
    assert accepted.status_code == 202 and accepted.json()["status"] == "queued"
    plan_id = accepted.json()["plan_id"]
    app.wait_for(lambda: app.get(f"/api/plans/{plan_id}").json()["status"] == "done", 10,
                 "plan done")
    assert app.get(f"/api/plans/{plan_id}").json()["result"] == {"steps_done": 2}
    failing = app.post("/api/plans", json={"node_id": "node-1", "steps": [{"fail": True}]})
    failing_id = failing.json()["plan_id"]
    app.wait_for(lambda: app.get(f"/api/plans/{failing_id}").json()["status"] == "failed", 10,
                 "plan failed")
    assert app.get("/api/plans/unknown").status_code == 404


def test_health_stats_and_metrics(app: RunningApp) -> None:
    """Liveness, readiness, pool figures, the stats the harness samples, Prometheus text."""
    assert app.get("/health").json()["status"] == "alive"
    assert app.get("/health/ready").status_code == 200
    pool = app.get("/health/db-pool").json()["pool"]
    assert {"size", "in_use", "idle", "waiting", "max"} <= set(pool) and pool["max"] == 10
    stats = app.stats()
    assert stats["breakers"]["database"]["state"] == "closed"
    assert {"queued", "running", "max_queue", "rejected"} <= set(stats["tasks"])
    assert stats["tasks"]["max_queue"] == TASK_QUEUE
    assert isinstance(stats["errors_unhandled"], int)
    assert {"rss_bytes", "traced_bytes", "warnings_total"} <= set(stats["memory"])
    assert set(stats["startup"].values()) == {"up"} and stats["schema"]["valid"] is True
    assert app.get("/api/monitoring/health").json()["status"] == "healthy"
    text = app.get("/metrics").text
    assert "http_requests_total{" in text and 'app_breaker_state{name="database"} 0.0' in text


def test_every_response_carries_a_request_id(app: RunningApp) -> None:
    """2xx, 4xx and 5xx answers all carry X-Request-Id; a sane one sent is echoed."""
    with app.client() as client:
        responses = [client.get("/health"), client.get("/api/nodes/x"),
                     client.get("/api/rooms/r/messages", params={"limit": 0}),
                     client.post("/api/chaos/raise/handler",
                                 headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}),
                     client.get("/health", headers={"X-Request-Id": "trace-42"})]
    assert [r.status_code for r in responses] == [200, 404, 422, 500, 200]
    assert all(r.headers.get("x-request-id") for r in responses)
    assert responses[-1].headers["x-request-id"] == "trace-42"


def test_admin_endpoints_need_the_token(app: RunningApp) -> None:
    """Breaker reset and chaos hooks: no token 401, wrong token 401, right token 200."""
    reset = "/api/monitoring/circuit-breaker/reset"
    assert app.post(reset).status_code == 401
    assert app.post(reset, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert app.admin_post(reset).json() == {"reset": ["database"]}
    assert app.post("/api/chaos/raise/task").status_code == 401


def _raise_everywhere(app: RunningApp) -> list[int]:
    return [app.admin_post(f"/api/chaos/raise/{where}").status_code
            for where in ("handler", "task", "thread")]


def test_raising_handler_task_and_thread_are_counted_and_survived(app: RunningApp) -> None:
    """Each raise is recorded once by the error boundary, listed with its source, logged as one
    JSON line; the process keeps serving."""
    before = app.stats()["errors_unhandled"]
    assert _raise_everywhere(app) == [500, 200, 200]
    app.wait_for(lambda: app.stats()["errors_unhandled"] >= before + 3, 5, "3 errors recorded")
    assert app.stats()["errors_unhandled"] == before + 3
    listed = app.get("/api/monitoring/errors", params={"type": "ChaosError", "limit": 3}).json()
    sources = sorted(e["source"].split(":")[0].split(" ")[0] for e in listed["errors"])
    assert sources == ["handler", "task", "thread"]
    assert app.log().count('"type": "ChaosError"') >= 3
    assert app.get("/health").status_code == 200 and app.child.alive


def test_naive_does_not_count_errors(naive: RunningApp) -> None:
    """Negative control: the naive app has no error boundary, so the same raises go uncounted
    (/api/monitoring reports 0) although they happened (tracebacks in its log)."""
    assert _raise_everywhere(naive) == [500, 200, 200]
    time.sleep(0.3)
    assert naive.stats()["errors_unhandled"] == 0
    assert naive.get("/api/monitoring/errors").json()["errors"] == []
    assert "chaos: raised in a thread" in naive.log()


def test_naive_makes_a_row_per_post_of_one_key(naive: RunningApp) -> None:
    """Negative control: without idempotency the same key twice is two 201s and two rows."""
    session = _session(naive, "dup")
    key = f"k-{uuid.uuid4().hex}"
    codes = [_post(naive, "dup", session, "hello", key).status_code for _ in range(2)]
    assert codes == [201, 201]
    room = naive.get("/api/rooms/dup/messages").json()["messages"]
    assert sum(1 for m in room if m["key"] == key) == 2


def test_full_task_queue_is_503_with_retry_after(app: RunningApp) -> None:
    """Flooding the bounded queue rejects the excess; a plan submitted while it is full gets
    503 + Retry-After and is stored as rejected."""
    flood = app.admin_post("/api/chaos/flood_tasks", json={"count": 200, "seconds": 3}).json()
    assert flood["accepted"] == TASK_QUEUE and flood["rejected"] == 150
    app.admin_post("/api/chaos/flood_tasks", json={"count": 20, "seconds": 3})  # refill
    response = app.post("/api/plans", json={"node_id": "node-1", "steps": []})
    assert response.status_code == 503, response.text
    assert int(response.headers["retry-after"]) >= 1
    assert app.stats()["tasks"]["rejected"] >= 150 + 1
