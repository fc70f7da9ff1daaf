"""The memory chaos hook and the planted leak, through the real app process."""

from __future__ import annotations

import uuid

import pytest
from app_proc import RunningApp, start_app

from harness.provision.process import Supervisor

pytestmark = pytest.mark.integration


def _post_many(app: RunningApp, count: int) -> None:
    session = app.post("/api/sessions", json={"user": "m", "room": "mem"}).json()["session_id"]
    with app.client() as client:
        for i in range(count):
            response = client.post("/api/rooms/mem/messages",
                                   json={"session_id": session, "text": f"{i:05d}" + "y" * 2000},
                                   headers={"Idempotency-Key": uuid.uuid4().hex})
            assert response.status_code == 201


def test_planted_leak_is_named_by_the_snapshot_diff(supervisor: Supervisor, fresh_db: str
                                                    ) -> None:
    """With REFERENCE_IMPL_PLANT_LEAK=1, a snapshot diff after 100 posts has the planted
    module's allocation site among its top growers; the diff has the run-directory shape."""
    app = start_app(supervisor, fresh_db, name="leak", env={"REFERENCE_IMPL_PLANT_LEAK": "1"})
    app.wait_ready(30)
    first = app.admin_post("/api/chaos/memory/snapshot")
    assert first.status_code == 200
    assert {"t_s", "total_bytes", "total_diff_bytes", "top"} <= set(first.json())
    _post_many(app, 100)
    diff = app.admin_post("/api/chaos/memory/snapshot").json()
    growing = [s for s in diff["top"] if s["size_diff_bytes"] > 0]
    sites = [s["site"] for s in growing]
    assert any(site.startswith("reference_impl/app/planted_leak.py:") for site in sites), sites
    leak = next(s for s in growing if "planted_leak.py" in s["site"])
    assert leak["size_diff_bytes"] > 100 * 2000 and leak["traceback"]
    assert app.stats()["memory"]["traced_bytes"] > 0


def test_clean_app_has_no_planted_site_and_hooks_need_the_token(supervisor: Supervisor,
                                                                fresh_db: str) -> None:
    """Without the switch, the same posts leave no planted_leak.py site; the snapshot hook is
    refused without the admin token."""
    app = start_app(supervisor, fresh_db, name="noleak")
    app.wait_ready(30)
    assert app.post("/api/chaos/memory/snapshot").status_code == 401
    app.admin_post("/api/chaos/memory/snapshot")
    _post_many(app, 100)
    diff = app.admin_post("/api/chaos/memory/snapshot").json()
    assert not [s for s in diff["top"] if "planted_leak.py" in s["site"]]
