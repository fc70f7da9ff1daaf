"""The reference API's tasks as declared requests: ``[load] mix`` is one instance of
``[[load.request]]`` (no locust import).

Each user joins a room first (its *home* session: ``capture_first``, as a browser keeps its
login cookie) and keeps the latest session and room it joined; posts are writes keyed by an
Idempotency-Key and retried with it; ``resume_session`` looks the home session up (200
expected: sessions survive an app restart; a 404 means the app forgot it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from harness.load.declared import RequestSpec, StatusSet

__all__ = ["reference_requests"]

_NODES = 6  # node-1..node-5 exist in the reference schema; node-6 is a miss (404 is fine)
_OK_200 = StatusSet.parse([200])


def _all(rooms: int) -> dict[str, RequestSpec]:
    return {
        "join_room": RequestSpec(
            name="join_room", method="POST", path="/api/sessions", on_start=True,
            json={"user": "user-{user}", "room": f"room-{{int:0:{rooms - 1}}}"},
            ok_status=StatusSet.parse([200, 201]), ok_json="session_id",
            capture={"session_id": "session_id", "room": "room"},
            capture_first={"home": "session_id"}),
        "post_message": RequestSpec(
            name="post_message", method="POST", path="/api/rooms/{room}/messages",
            headers={"Idempotency-Key": "{key}"},
            json={"session_id": "{session_id}", "text": "message {key}"}, write_key="{key}"),
        "read_history": RequestSpec(
            name="read_history", path="/api/rooms/{room}/messages?limit=50", ok_status=_OK_200),
        "submit_plan": RequestSpec(
            name="submit_plan", method="POST", path="/api/plans",
            json={"node_id": f"node-{{int:1:{_NODES - 1}}}",
                  "steps": [{"op": "place", "n": "{int:0:2}"}]},
            ok_status=StatusSet.parse([200, 201, 202])),
        "lookup_node": RequestSpec(
            name="lookup_node", path=f"/api/nodes/node-{{int:1:{_NODES}}}",
            ok_status=StatusSet.parse([200, 404])),
        "export": RequestSpec(
            name="export", path="/api/rooms/{room}/messages/export", ok_status=_OK_200),
        "resume_session": RequestSpec(
            name="resume_session", path="/api/sessions/{home}", ok_status=_OK_200),
    }


def reference_requests(mix: Mapping[str, int], rooms: int) -> tuple[RequestSpec, ...]:
    """The requests of ``mix`` (task -> weight) over ``rooms`` rooms; join_room always runs
    first for every user (its weight then says how often it runs again)."""
    specs = _all(max(1, rooms))
    unknown = sorted(set(mix) - set(specs))
    if unknown:
        raise ValueError(f"unknown reference tasks: {', '.join(unknown)}")
    out = [replace(specs["join_room"], weight=mix.get("join_room", 0))]
    out += [replace(spec, weight=mix[name])
            for name, spec in specs.items() if name != "join_room" and mix.get(name, 0) > 0]
    return tuple(out)
