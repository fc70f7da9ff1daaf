"""The built-in tasks of the reference API, on the careful client (runs inside Locust).

Each user behaves as a careful client: it joins rooms (keeping the session ids it got,
as a browser keeps its cookie, and looking its first one up now and then:
``resume_session``), posts messages with a fresh Idempotency-Key through
:meth:`ChaosUser.write` (the same write path declared requests and users' own
locustfiles use), reads history, submits plans and looks nodes up. Task choice, think
time and keys come from the user's seeded generator, so a replay makes the same keys.
"""

from __future__ import annotations

from locust import task

from harness.load.client import CONFIG, ChaosUser
from harness.load.declared import StatusSet
from harness.load.keys import TaskPicker

__all__ = ["ReferenceApiUser"]

_MAX_SESSIONS = 5
_NODES = 6  # node-1..node-5 exist in the reference schema; node-6 is a miss (404 is fine)
_OK_200 = StatusSet.parse([200])
_JOINED = StatusSet.parse([200, 201])
_ACCEPTED = StatusSet.parse([200, 201, 202])
_FOUND_OR_NOT = StatusSet.parse([200, 404])


class ReferenceApiUser(ChaosUser):
    """A user of the reference API following the scenario's task mix."""

    abstract = True

    def on_start(self) -> None:
        """Seed this user's generator and join a first room."""
        super().on_start()
        self.picker = TaskPicker(CONFIG.mix, self.rng)
        self.user_name = f"user-{self.user_id}"
        self.sessions: list[tuple[str, str]] = []
        self.home: str | None = None  # the first session this user got: its "login"
        self.join_room()

    @task
    def next_task(self) -> None:
        """Run one task chosen by the weighted mix."""
        getattr(self, self.picker.next())()

    def _room(self) -> str:
        if self.sessions:
            return self.rng.choice(self.sessions)[1]
        return f"room-{self.rng.randrange(CONFIG.rooms)}"

    def join_room(self) -> None:
        """POST /api/sessions: 201 {session_id, ...}; the session is kept for posting."""
        room = f"room-{self.rng.randrange(CONFIG.rooms)}"
        resp = self.send("POST", "/api/sessions", name="join_room", ok=_JOINED,
                         ok_json="session_id", json={"user": self.user_name, "room": room})
        if resp is None:
            return
        session_id = str(resp.json()["session_id"])
        self.sessions.append((session_id, room))
        del self.sessions[:-_MAX_SESSIONS]
        if self.home is None:
            self.home = session_id

    def post_message(self) -> None:
        """POST a message with a fresh key; retry a lost/5xx attempt with the same key."""
        if not self.sessions:
            self.join_room()
            if not self.sessions:
                return
        session_id, room = self.rng.choice(self.sessions)
        key = self.new_key()
        self.write("POST", f"/api/rooms/{room}/messages", key=key, name="post_message",
                   json={"session_id": session_id, "text": f"message {key}"},
                   headers={"Idempotency-Key": key})

    def resume_session(self) -> None:
        """GET this user's first session, as a returning browser checks its login cookie:
        200 expected (sessions survive an app restart); a 404 means the app forgot it."""
        if self.home is None:
            self.join_room()
            return
        self.send("GET", f"/api/sessions/{self.home}", name="resume_session", ok=_OK_200)

    def read_history(self) -> None:
        """GET a page of a room's history."""
        self.send("GET", f"/api/rooms/{self._room()}/messages?limit=50", name="read_history",
                  ok=_OK_200)

    def submit_plan(self) -> None:
        """POST a construction plan: 202 accepted."""
        node = f"node-{self.rng.randint(1, _NODES - 1)}"
        steps = [{"op": "place", "n": n} for n in range(self.rng.randint(1, 3))]
        self.send("POST", "/api/plans", name="submit_plan", ok=_ACCEPTED,
                  json={"node_id": node, "steps": steps})

    def lookup_node(self) -> None:
        """GET a node by node_id; a missing node (404) is a correct answer."""
        self.send("GET", f"/api/nodes/node-{self.rng.randint(1, _NODES)}", name="lookup_node",
                  ok=_FOUND_OR_NOT)

    def export(self) -> None:
        """GET a room's NDJSON export."""
        self.send("GET", f"/api/rooms/{self._room()}/messages/export", name="export", ok=_OK_200)
