"""The careful client for locustfiles: every request recorded, every write with its key.

This is the supported API for a user's own locustfile (``[target] locustfile``);
the harness' declared requests and its reference-API tasks are built on it too, so
there is one way a write is sent, retried and recorded::

    from locust import task
    from harness.load.client import ChaosUser

    class Shopper(ChaosUser):
        def on_start(self) -> None:
            super().on_start()                      # seeds the user's generator and keys
            resp = self.send("POST", "/login", name="login", json={"customer": self.user_id})
            self.token = resp.json()["token"] if resp is not None else ""

        @task
        def order(self) -> None:
            key = self.new_key()                    # seeded: a replay makes the same keys
            self.write("POST", "/orders", key=key, name="order",
                       json={"order_key": key, "item": "pear", "qty": 1},
                       headers={"Authorization": f"Bearer {self.token}"})

``write`` retries with the *same* key on no answer, a 5xx or a 408/425/429
(honouring Retry-After up to a second), never on another 4xx, and records each
attempt with its key, attempt number and whether it was acknowledged, so the harness
can read the keys back and count lost and duplicated writes. A run whose scenario
judges writes but whose locustfile recorded no write key is refused (exit 2).

Importing this module installs the request recorder and reads the run's load config
(named by ``CHAOSHARNESS_LOAD_CONFIG``, which the conductor sets). It runs only inside
Locust's process (importing locust gevent-patches it).
"""

from __future__ import annotations

import itertools
import os
import sys
from typing import Any

import gevent
from locust import FastHttpUser, events
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from harness.load import recorder
from harness.load.config import CONFIG_ARG, CONFIG_ENV, LoadRunConfig
from harness.load.declared import StatusSet, json_path, parse_path, retry_delay_s, should_retry
from harness.load.keys import WriteKeys, user_rng

__all__ = ["CONFIG", "ChaosUser", "StatusSet"]

_OK_2XX = StatusSet()


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
        raise RuntimeError(f"chaosharness: no load config; pass {CONFIG_ARG} PATH or set "
                           f"{CONFIG_ENV} (the conductor does both)")
    return path


#: The run's load configuration (seed, timeouts, retries, declared requests). A remote worker
#: (``chaosharness load-worker``) has fetched it from the master before Locust started.
CONFIG = LoadRunConfig.read(_config_path())
_user_index = itertools.count()


@events.init_command_line_parser.add_listener
def _add_config_argument(parser: Any, **_: Any) -> None:
    parser.add_argument(CONFIG_ARG, default="", help="chaosharness load config (JSON)")


@events.init.add_listener
def _install_recorder(environment: Environment, **_: Any) -> None:
    from harness.load import distributed

    runner = environment.runner
    if isinstance(runner, MasterRunner):  # the master writes the rows its workers ship
        distributed.install_master(environment, CONFIG, CONFIG.to_json())
    elif isinstance(runner, WorkerRunner):  # a worker ships its rows to the master
        distributed.install_worker(environment, CONFIG)
    else:  # a standalone Locust writes its own file
        recorder.install(environment, CONFIG.requests_dir, CONFIG.t0_monotonic)


class ChaosUser(FastHttpUser):
    """A Locust user with a seeded generator, seeded write keys and a careful client."""

    abstract = True
    network_timeout = CONFIG.request_timeout_s
    connection_timeout = CONFIG.request_timeout_s

    def on_start(self) -> None:
        """Seed this user's generator and keys from (seed, worker, user)."""
        worker = int(getattr(self.environment.runner, "worker_index", 0) or 0)
        index = next(_user_index)
        self.worker_index = worker
        self.user_id = f"{worker}-{index}"
        self.rng = user_rng(CONFIG.seed, worker, index)
        self.keys = WriteKeys(CONFIG.seed, worker, index)

    def wait_time(self) -> float:
        """Think time between tasks, from this user's generator."""
        low, high = CONFIG.wait_ms
        return float(self.rng.uniform(low, high)) / 1000.0

    def new_key(self) -> str:
        """A fresh write key, unique in the run and the same on a replay."""
        return self.keys.next()

    def send(self, method: str, path: str, *, name: str, ok: StatusSet = _OK_2XX,
             ok_json: str = "", **kwargs: Any) -> Any:
        """One request that is not a write; returns the response when it was ok, else None."""
        done, _, resp = self._attempt(method, path, name, ok, ok_json, None, kwargs)
        return resp if done else None

    def write(self, method: str, path: str, *, key: str, name: str, ok: StatusSet = _OK_2XX,
              ok_json: str = "", **kwargs: Any) -> Any:
        """A write keyed by ``key``: retried with the same key until acknowledged (``ok``
        and ``ok_json``), a definite failure (another 4xx) or out of retries. The caller
        sends the key itself (a header, the body, the path). Returns the acknowledging
        response, or None."""
        for attempt in range(1, CONFIG.write_retries + 2):
            context = {"write_key": key, "attempt": attempt}
            done, status, resp = self._attempt(method, path, name, ok, ok_json, context, kwargs)
            if done:
                return resp
            if not should_retry(status) or attempt > CONFIG.write_retries:
                return None
            retry_after = resp.headers.get("Retry-After") if status else None
            gevent.sleep(retry_delay_s(attempt, retry_after, self.rng.random()))
        return None

    def _attempt(self, method: str, path: str, name: str, ok: StatusSet, ok_json: str,
                 context: dict[str, Any] | None, kwargs: dict[str, Any]) -> tuple[bool, int, Any]:
        """Send once; mark the row ok only when the status and the JSON path say done."""
        with self.client.request(method, path, name=name, catch_response=True,
                                 context=context or {}, **kwargs) as resp:
            status = int(resp.status_code or 0)
            problem = _problem(resp, status, ok, ok_json)
            if problem:
                resp.failure(f"{name}: {problem}")
                return False, status, resp
            resp.success()
            return True, status, resp


def response_json(resp: Any) -> Any:
    """The response's JSON body, parsed once however many readers ask (the ``ok_json`` check
    and a declared request's captures); raises ValueError when it is not JSON."""
    cached = getattr(resp, "_chaosharness_json", _UNPARSED)
    if cached is _UNPARSED:
        cached = resp.json()
        resp._chaosharness_json = cached
    return cached


_UNPARSED = object()


def _problem(resp: Any, status: int, ok: StatusSet, ok_json: str) -> str:
    """Why a response is not done ('' when it is)."""
    if not status:
        return str(resp.error or "no response")
    if status not in ok:
        return f"HTTP {status}"
    if ok_json:
        try:
            body = response_json(resp)
        except ValueError:
            return f"HTTP {status} without a JSON body"
        if json_path(body, parse_path(ok_json)) is None:
            return f"HTTP {status} without {ok_json}"
    return ""
