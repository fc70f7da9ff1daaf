"""Locustfile of benchmarks/load_scale.py's master ceiling: workers that only ship rows.

Loaded by Locust only (master and workers, with ``CHAOSHARNESS_LOAD_CONFIG`` set), it
installs the harness' distributed side like any run (:mod:`harness.load.client`: the
master's :class:`~harness.load.distributed.RowCollector` writes what arrives), and each
worker's one user sends the same pre-formatted batch of 500 request rows as ``chx_rows``
messages as fast as Locust's channel takes them, ``FLOOD_ROWS`` rows in all (default
2,000,000), without making requests, so the master's side of the row stream is what
limits the rate (the benchmark times the master's file growing). It sends on the worker's Locust socket
directly (Locust's ``send_message`` sleeps a second when the socket's queue is full); a
send refused because the queue is full (the master is behind) is retried after 1 ms and
not counted. At the end the worker prints ``FLOOD_SENT <rows>`` on stderr.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import gevent
import zmq.green as zmq
from locust import User, constant, events, task
from locust.rpc import Message
from locust.runners import WorkerRunner

import harness.load.client  # noqa: F401 - installs the master's collector / the worker's side
from benchmarks.load_scale import FLOOD_BATCH, FLOOD_TEXT
from harness.load.distributed import MSG_ROWS

_sent = {"rows": 0, "refused": 0}
_LIMIT = int(os.environ.get("FLOOD_ROWS", "2000000"))


@events.quitting.add_listener
def _report(**_: Any) -> None:
    print(f"FLOOD_SENT {_sent['rows']} REFUSED {_sent['refused']}", file=sys.stderr, flush=True)


class Flood(User):
    """Sends batches of rows back to back."""

    wait_time = constant(0)

    @task
    def flood(self) -> None:
        runner = self.environment.runner
        if not isinstance(runner, WorkerRunner):
            gevent.sleep(1.0)
            return
        data = {"index": runner.worker_index, "seq": 0, "n": FLOOD_BATCH, "rows": FLOOD_TEXT}
        frame = Message(MSG_ROWS, data, runner.client_id).serialize()
        if _sent["rows"] >= _LIMIT:
            gevent.sleep(1.0)
            return
        for _ in range(50):
            try:
                runner.client.socket.send(frame, zmq.NOBLOCK)
            except zmq.Again:  # the queue to the master is full: it is behind
                _sent["refused"] += 1
                gevent.sleep(0.001)
                continue
            _sent["rows"] += FLOOD_BATCH
        gevent.sleep(0)
