"""The app process killed and restarted, and terminated under load."""

from __future__ import annotations

import signal
import time
import uuid

import pytest
from app_proc import RunningApp, start_app
from writers import WriteStream

from harness.provision.pg_probe import fetch
from harness.provision.process import Supervisor

pytestmark = pytest.mark.integration


def _state(app: RunningApp, room: str) -> tuple[dict[str, object], list[int]]:
    session = app.post("/api/sessions", json={"user": "grace", "room": room}).json()
    ids = []
    for i in range(3):
        response = app.post(f"/api/rooms/{room}/messages",
                            json={"session_id": session["session_id"], "text": f"m{i}"},
                            headers={"Idempotency-Key": uuid.uuid4().hex})
        assert response.status_code == 201
        ids.append(response.json()["id"])
    return session, ids


def _kill_and_restart(supervisor: Supervisor, app: RunningApp, dsn: str,
                      profile: str) -> RunningApp:
    assert supervisor.kill(app.child) == -signal.SIGKILL
    again = start_app(supervisor, dsn, name=f"{app.child.name}-2", profile=profile)
    again.wait_ready(30)
    return again


def test_sessions_and_history_survive_sigkill(supervisor: Supervisor, fresh_db: str) -> None:
    """After SIGKILL and a restart, the session and the room's history are all still there."""
    app = start_app(supervisor, fresh_db, name="kill-resilient")
    app.wait_ready(30)
    session, ids = _state(app, "kept")
    again = _kill_and_restart(supervisor, app, fresh_db, "resilient")
    assert again.get(f"/api/sessions/{session['session_id']}").json() == session
    history = again.get("/api/rooms/kept/messages").json()["messages"]
    assert [m["id"] for m in history] == ids


def test_naive_loses_sessions_on_sigkill(supervisor: Supervisor, fresh_db: str) -> None:
    """Negative control: the naive app keeps sessions in process memory; after a restart the
    session is gone (404) although its messages are in the database."""
    app = start_app(supervisor, fresh_db, name="kill-naive", profile="naive")
    app.wait_ready(30)
    session, ids = _state(app, "lost")
    again = _kill_and_restart(supervisor, app, fresh_db, "naive")
    assert again.get(f"/api/sessions/{session['session_id']}").status_code == 404
    assert [m["id"] for m in again.get("/api/rooms/lost/messages").json()["messages"]] == ids


def _terminate_under_load(supervisor: Supervisor, dsn: str, profile: str
                          ) -> tuple[int | None, WriteStream, float]:
    app = start_app(supervisor, dsn, name=f"term-{profile}", profile=profile)
    app.wait_ready(30)
    session = app.post("/api/sessions", json={"user": "t", "room": "stream"}).json()
    stream = WriteStream(app.url, str(session["session_id"]), writers=6).start()
    time.sleep(1.0)
    sent = time.monotonic()
    app.child.signal_process(signal.SIGTERM)
    code = app.child.wait(30)
    supervisor.reap(app.child)
    stream.stop(retry_bound_s=0.5)
    return code, stream, sent


def test_sigterm_under_load_drains_and_exits_zero(supervisor: Supervisor, fresh_db: str) -> None:
    """SIGTERM with six writers running: no 5xx at all (requests in flight finish, later ones
    find the port closed), exit code 0, every acknowledged write stored exactly once."""
    code, stream, sent = _terminate_under_load(supervisor, fresh_db, "resilient")
    assert code == 0
    statuses = {a.status for a in stream.attempts}
    assert all(s < 500 for s in statuses), statuses
    assert not [a for a in stream.attempts if a.error == "ReadTimeout"]
    assert any(a.t > sent and a.status == 201 for a in stream.attempts)  # served while draining
    rows = dict(fetch(fresh_db, "select idempotency_key, count(*) from messages group by 1"))
    assert set(stream.acked) <= set(rows) and set(rows.values()) == {1}


def test_naive_sigterm_is_not_a_clean_exit(supervisor: Supervisor, fresh_db: str) -> None:
    """Negative control: the naive app (stock uvicorn, no drain) dies by the signal it was
    sent rather than exiting 0 after a drain."""
    code, stream, _ = _terminate_under_load(supervisor, fresh_db, "naive")
    assert code == -signal.SIGTERM, code
