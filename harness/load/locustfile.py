"""Locust users for the reference API (run by ``locust -f harness/load/locustfile.py``).

Reads its :class:`~harness.load.config.LoadRunConfig` from the file named by
``--chaosharness-config PATH`` or the environment variable ``CHAOSHARNESS_LOAD_CONFIG``,
records every request with :mod:`harness.load.recorder`, and follows the scenario's
shape (:mod:`harness.load.shapes`).

Each user behaves as a careful client: it joins rooms (keeping the session ids it got,
as a browser keeps its cookie, and looking its first one up now and then:
``resume_session``), posts messages with a fresh Idempotency-Key from its seeded
generator, and retries a write that got no answer or a 5xx/429 with the *same* key
(attempt 2, 3, ...), honouring Retry-After up to a second. A 4xx means the write
definitely did not happen and is not retried. Task choice, think time and keys come
from a generator seeded by (seed, worker, user), so a replay makes the same keys.

This module runs only inside Locust's process (importing locust gevent-patches it).
"""

from __future__ import annotations

import itertools
import os
import sys
from typing import Any

import gevent
from locust import FastHttpUser, events, task
from locust.env import Environment
from locust.runners import MasterRunner

from harness.load import recorder, shapes
from harness.load.config import CONFIG_ARG, CONFIG_ENV, LoadRunConfig
from harness.load.keys import TaskPicker, WriteKeys, user_rng

_MAX_SESSIONS = 5
_NODES = 6  # node-1..node-5 exist in the reference schema; node-6 is a miss (404 is fine)
_RETRYABLE_4XX = frozenset({408, 425, 429})


def _config_path() -> str:
    """``--chaosharness-config PATH`` (or ``=PATH``) from argv, else the environment."""
    argv = sys.argv
    for i, arg in enumerate(argv):
        if arg == CONFIG_ARG and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(CONFIG_ARG + "="):
            return arg.split("=", 1)[1]
    path = os.environ.get(CONFIG_ENV, "")
    if not path:
        raise RuntimeError(f"chaosharness locustfile: no load config; pass {CONFIG_ARG} PATH or "
                           f"set {CONFIG_ENV} (the conductor writes it)")
    return path


CONFIG = LoadRunConfig.read(_config_path())
_user_index = itertools.count()

if CONFIG.shape != "constant":
    # exactly one shape class in this namespace: Locust uses every one it finds
    ScenarioShape = shapes.shape_class(CONFIG)


@events.init_command_line_parser.add_listener
def _add_config_argument(parser: Any, **_: Any) -> None:
    parser.add_argument(CONFIG_ARG, default="", help="chaosharness load config (JSON)")


@events.init.add_listener
def _install_recorder(environment: Environment, **_: Any) -> None:
    if not isinstance(environment.runner, MasterRunner):  # workers and standalone record
        recorder.install(environment, CONFIG.requests_dir, CONFIG.t0_monotonic)


def retry_delay_s(attempt: int, retry_after: str | None, jitter: float) -> float:
    """Seconds before retry ``attempt + 1``: Retry-After when given, else capped
    exponential backoff with full jitter; never more than a second (the load goes on)."""
    if retry_after:
        try:
            return min(1.0, max(0.0, float(retry_after)))
        except ValueError:
            pass
    return min(1.0, 0.05 + jitter * 0.1 * 2 ** (attempt - 1))


class ReferenceApiUser(FastHttpUser):
    """A user of the reference API following the scenario's task mix."""

    network_timeout = CONFIG.request_timeout_s
    connection_timeout = CONFIG.request_timeout_s

    def on_start(self) -> None:
        """Seed this user's generator and join a first room."""
        worker = int(getattr(self.environment.runner, "worker_index", 0) or 0)
        index = next(_user_index)
        self.rng = user_rng(CONFIG.seed, worker, index)
        self.keys = WriteKeys(CONFIG.seed, worker, index)
        self.picker = TaskPicker(CONFIG.mix, self.rng)
        self.user_name = f"user-{worker}-{index}"
        self.sessions: list[tuple[str, str]] = []
        self.home: str | None = None  # the first session this user got: its "login"
        self.join_room()

    def wait_time(self) -> float:
        """Think time between tasks, from this user's generator."""
        low, high = CONFIG.wait_ms
        return float(self.rng.uniform(low, high)) / 1000.0

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
        with self.client.post("/api/sessions", json={"user": self.user_name, "room": room},
                              name="join_room", catch_response=True) as resp:
            if resp.status_code not in (200, 201):
                resp.failure(f"join_room: HTTP {resp.status_code}")
                return
            try:
                session_id = str(resp.json()["session_id"])
            except (ValueError, KeyError, TypeError):
                resp.failure("join_room: no session_id in the response")
                return
            resp.success()
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
        key = self.keys.next()
        body = {"session_id": session_id, "text": f"message {key}"}
        for attempt in range(1, CONFIG.write_retries + 2):
            retry, retry_after = self._write_once(room, body, key, attempt)
            if not retry or attempt > CONFIG.write_retries:
                return
            gevent.sleep(retry_delay_s(attempt, retry_after, self.rng.random()))

    def _write_once(
        self, room: str, body: dict[str, str], key: str, attempt: int
    ) -> tuple[bool, str | None]:
        """One attempt; returns (retry?, Retry-After)."""
        with self.client.post(f"/api/rooms/{room}/messages", json=body, name="post_message",
                              headers={"Idempotency-Key": key}, catch_response=True,
                              context={"write_key": key, "attempt": attempt}) as resp:
            status = resp.status_code or 0
            if 200 <= status < 300:
                resp.success()
                return False, None
            resp.failure(f"post_message: HTTP {status}" if status else
                         f"post_message: {resp.error or 'no response'}")
            retry_after = resp.headers.get("Retry-After") if status else None
            return status == 0 or status >= 500 or status in _RETRYABLE_4XX, retry_after

    def resume_session(self) -> None:
        """GET this user's first session, as a returning browser checks its login cookie:
        200 expected (sessions survive an app restart); a 404 means the app forgot it."""
        if self.home is None:
            self.join_room()
            return
        self._get(f"/api/sessions/{self.home}", "resume_session", (200,))

    def read_history(self) -> None:
        """GET a page of a room's history."""
        self._get(f"/api/rooms/{self._room()}/messages?limit=50", "read_history", (200,))

    def submit_plan(self) -> None:
        """POST a construction plan: 202 accepted."""
        node = f"node-{self.rng.randint(1, _NODES - 1)}"
        steps = [{"op": "place", "n": n} for n in range(self.rng.randint(1, 3))]
        with self.client.post("/api/plans", json={"node_id": node, "steps": steps},
                              name="submit_plan", catch_response=True) as resp:
            self._judge(resp, (200, 201, 202))

    def lookup_node(self) -> None:
        """GET a node by node_id; a missing node (404) is a correct answer."""
        self._get(f"/api/nodes/node-{self.rng.randint(1, _NODES)}", "lookup_node", (200, 404))

    def export(self) -> None:
        """GET a room's NDJSON export."""
        self._get(f"/api/rooms/{self._room()}/messages/export", "export", (200,))

    def _get(self, path: str, name: str, ok: tuple[int, ...]) -> None:
        with self.client.get(path, name=name, catch_response=True) as resp:
            self._judge(resp, ok)

    @staticmethod
    def _judge(resp: Any, ok: tuple[int, ...]) -> None:
        if resp.status_code in ok:
            resp.success()
        else:
            resp.failure(f"HTTP {resp.status_code}" if resp.status_code else
                         str(resp.error or "no response"))
