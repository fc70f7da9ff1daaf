"""Load beyond one machine: request rows and the load config over Locust's own channel.

Runs inside Locust's processes (imports locust and gevent). :mod:`harness.load.client`
installs one side per process on Locust's ``init`` event:

* a **worker** (``WorkerRunner``: a ``--processes`` child or ``chaosharness load-worker``
  on another host) does not write a file: its :class:`ShippingRecorder` formats the same
  CSV lines as :class:`~harness.load.recorder.RequestRecorder` and ships them to the master
  as ``chx_rows`` messages, batched (every :data:`BATCH_S` seconds or :data:`BATCH_ROWS`
  rows) and bounded in memory (:data:`MAX_BUFFERED` rows; beyond that the oldest batch is
  dropped and counted, never silently). When the master asks it to finish
  (``chx_stop``), or when it quits, it stops its users (Locust's stop timeout lets a write
  and its retries end), ships the last batch and says ``chx_done`` with its counts;
* the **master** (:class:`RowCollector`) appends each worker's rows to
  ``requests-w<index>.csv`` in the run's requests dir (so ``merge_request_files`` and
  verify are unchanged), answers the config request of a joining remote worker
  (``chx_config``, see :mod:`harness.load.remote`) with the config and, when the master
  runs a user's own locustfile, that file (read once at start,
  :mod:`harness.load.shipped`), and writes ``workers.jsonl`` beside
  the rows: one line per worker joined, done (rows it sent, rows that arrived) and lost
  (gone missing or quit without its last batch). The conductor relays those lines into
  the run's timeline (``worker_joined``, ``worker_done``, ``worker_lost``).

Locust's headless master quits at the run time by sending ``quit`` and waiting 0.5 s,
too short for a worker's stop timeout; the collector therefore asks every live worker to
finish from the master's ``test_stopping`` event and waits (bounded) for its ``chx_done``
before Locust goes on quitting.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import deque
from pathlib import Path
from typing import IO, Any

import gevent
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from harness.load.command import LOCUSTFILE
from harness.load.config import LoadRunConfig
from harness.load.recorder import _HEADER, RequestRecorder
from harness.load.remote import MSG_CONFIG
from harness.load.shipped import ShippedLocustfile
from harness.load.workers import WORKERS_FILE

__all__ = ["BATCH_ROWS", "BATCH_S", "MAX_BUFFERED", "RowCollector", "ShippingRecorder",
           "WORKERS_FILE", "install_master", "install_worker", "users_locustfile"]

#: A worker ships its rows at least this often ...
BATCH_S = 0.5
#: ... or as soon as this many are waiting.
BATCH_ROWS = 500
#: Rows a worker keeps while the master cannot take them; beyond, the oldest batch is dropped.
MAX_BUFFERED = 200_000
#: How long the master waits for a finishing worker beyond Locust's stop timeout.
DRAIN_MARGIN_S = 15.0

MSG_ROWS = "chx_rows"
MSG_DONE = "chx_done"
MSG_STOP = "chx_stop"


class ShippingRecorder(RequestRecorder):
    """The recorder of a worker: the same rows, shipped to the master instead of a file."""

    def __init__(self, runner: WorkerRunner, t0_monotonic: float) -> None:
        super().__init__("", t0_monotonic, flush_every_s=BATCH_S)
        self.runner = runner
        self.flush_rows = BATCH_ROWS
        self.shipped = 0
        self.dropped = 0
        self.batches = 0
        self._pending: deque[tuple[int, str]] = deque()  # (rows, text) not yet handed to zmq
        self._pending_rows = 0
        self.done_sent = False

    def flush(self) -> None:
        """Hand the buffered rows to Locust's channel as one batch (kept when it fails)."""
        self._last_flush = time.monotonic()
        if self._lines:
            lines, self._lines = self._lines, []
            self._pending.append((len(lines), "".join(lines)))
            self._pending_rows += len(lines)
        while self._pending_rows > MAX_BUFFERED and len(self._pending) > 1:
            n, _ = self._pending.popleft()  # the master has been away for long: bounded memory
            self._pending_rows -= n
            self.dropped += n
        while self._pending:
            n, text = self._pending[0]
            try:
                self.runner.send_message(MSG_ROWS, {"index": self.runner.worker_index,
                                                    "seq": self.batches, "n": n, "rows": text})
            except Exception:  # noqa: BLE001 - RPCError and zmq's own: retried next flush
                return
            self._pending.popleft()
            self._pending_rows -= n
            self.shipped += n
            self.batches += 1

    def close(self) -> None:
        """Ship what is left (rows recorded later are still shipped until the process ends)."""
        self.flush()

    def finish(self) -> None:
        """Ship the last batch and tell the master how many rows this worker sent."""
        self.flush()
        if self.done_sent:
            return
        self.done_sent = True
        counts = {"index": self.runner.worker_index, "recorded": self.rows,
                  "shipped": self.shipped, "dropped": self.dropped,
                  "unsent": self._pending_rows, "batches": self.batches}
        try:
            self.runner.send_message(MSG_DONE, counts)
        except Exception:  # noqa: BLE001 - the master is gone: it records this worker as lost
            pass
        print(f"chaosharness worker {self.runner.worker_index}: {self.rows} rows recorded, "
              f"{self.shipped} shipped, {self.dropped} dropped", file=sys.stderr, flush=True)

    def flush_forever(self) -> None:
        while True:
            gevent.sleep(self.flush_every_s)
            self.flush()


def install_worker(environment: Environment, config: LoadRunConfig) -> ShippingRecorder:
    """The worker side: ship rows; stop users, ship the rest and say done when asked."""
    runner = environment.runner
    assert isinstance(runner, WorkerRunner)
    recorder = ShippingRecorder(runner, config.t0_monotonic)
    events = environment.events
    events.request.add_listener(recorder.on_request)
    events.test_stop.add_listener(lambda **_: recorder.flush())

    def on_stop(environment: Environment, msg: Any, **_: Any) -> None:
        runner.stop()  # users end within Locust's stop timeout: a write and its retries finish
        recorder.finish()

    runner.register_message(MSG_STOP, on_stop, concurrent=True)
    events.quitting.add_listener(lambda **_: recorder.finish())
    gevent.spawn(recorder.flush_forever)
    return recorder


class RowCollector:
    """The master side: one file of rows per worker, and the record of every worker."""

    def __init__(self, runner: MasterRunner, config: LoadRunConfig, config_text: str,
                 locustfile: ShippedLocustfile | None = None, locustfile_error: str = "") -> None:
        self.runner = runner
        self.config = config
        self.config_text = config_text
        self.locustfile = locustfile
        self.locustfile_error = locustfile_error
        self.dir = Path(config.requests_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.files: dict[int, IO[str]] = {}
        self.received: dict[int, int] = {}
        self.last_heard: dict[int, float] = {}  # run time of each worker's latest batch
        self.joined: dict[str, int] = {}  # client id -> index
        self.done: dict[int, dict[str, object]] = {}
        self.lost: set[int] = set()
        self._log = (self.dir / WORKERS_FILE).open("a", encoding="utf-8")

    def now_s(self) -> float:
        return round(time.monotonic() - self.config.t0_monotonic, 6)

    def record(self, event: str, **fields: Any) -> None:
        self._log.write(json.dumps({"event": event, "t_s": self.now_s(), **fields}) + "\n")
        self._log.flush()

    # -- messages --------------------------------------------------------------------------

    def on_connect(self, client_id: str, **_: Any) -> None:
        index = self.runner.get_worker_index(client_id)
        if self.joined.get(client_id) == index:
            return  # a worker that reconnects keeps its index
        self.joined[client_id] = index
        self.record("joined", index=index, client_id=client_id,
                    host=client_id.rsplit("_", 1)[0])

    def on_rows(self, environment: Environment, msg: Any, **_: Any) -> None:
        index = self.runner.get_worker_index(msg.node_id)
        fh = self.files.get(index)
        if fh is None:
            fh = self.files[index] = (self.dir / f"requests-w{index}.csv").open(
                "a", encoding="utf-8", newline="")
            if fh.tell() == 0:
                fh.write(_HEADER)
        fh.write(msg.data["rows"])
        self.received[index] = self.received.get(index, 0) + int(msg.data["n"])
        self.last_heard[index] = self.now_s()

    def on_done(self, environment: Environment, msg: Any, **_: Any) -> None:
        index = self.runner.get_worker_index(msg.node_id)
        fh = self.files.get(index)
        if fh is not None:
            fh.flush()
        data = dict(msg.data)
        self.done[index] = data
        self.record("done", index=index, sent=data.get("shipped"),
                    recorded=data.get("recorded"), dropped=data.get("dropped"),
                    unsent=data.get("unsent"), received=self.received.get(index, 0))

    def on_config(self, environment: Environment, msg: Any, **_: Any) -> None:
        """A remote worker's pre-flight asks for the run's config (:mod:`harness.load.remote`).

        Locust's master allocates a worker index to any node that sends a custom message
        (its debug log line asks for one); the pre-flight's throw-away node must not take
        one, or the real workers' indexes would skip numbers, so it is handed back here.
        """
        node = msg.node_id
        runner = self.runner
        if node not in self.joined and runner.worker_indexes.get(node) == \
                runner.worker_index_max - 1:
            del runner.worker_indexes[node]
            runner.worker_index_max -= 1
        answer: dict[str, Any] = {
            "config": self.config_text, "run_t_s": time.monotonic() - self.config.t0_monotonic,
            "echo": (msg.data or {}).get("sent"),
        }
        if self.locustfile is not None:
            answer["locustfile"] = self.locustfile.to_message()
        if self.locustfile_error:
            answer["locustfile_error"] = self.locustfile_error
        runner.send_message(MSG_CONFIG, answer, client_id=node)

    # -- liveness --------------------------------------------------------------------------

    def _alive(self, client_id: str) -> bool:
        node = self.runner.clients.get(client_id)
        return node is not None and node.state != "missing"

    def check_lost(self, reason: str = "") -> None:
        """Record every joined worker that is gone (missing, or quit) without its last batch."""
        for client_id, index in self.joined.items():
            if index in self.done or index in self.lost or self._alive(client_id):
                continue
            node = self.runner.clients.get(client_id)
            why = reason or ("stopped answering heartbeats" if node is not None
                             else "left without its last batch")
            self.lost.add(index)
            fh = self.files.get(index)
            if fh is not None:
                fh.flush()
            self.record("lost", index=index, client_id=client_id, reason=why,
                        received=self.received.get(index, 0),
                        last_rows_s=self.last_heard.get(index))

    def watch(self) -> None:
        """Greenlet body: look for lost workers twice a second."""
        while True:
            gevent.sleep(0.5)
            self.check_lost()

    def drain(self, **_: Any) -> None:
        """``test_stopping``: ask live workers to finish and wait for their ``chx_done``."""
        waiting = [c for c, i in self.joined.items()
                   if i not in self.done and i not in self.lost and self._alive(c)]
        if not waiting:
            return
        for client_id in waiting:
            self.runner.send_message(MSG_STOP, {}, client_id=client_id)
        stop_timeout = float(getattr(self.runner.environment, "stop_timeout", 0) or 0)
        deadline = time.monotonic() + stop_timeout + DRAIN_MARGIN_S
        while time.monotonic() < deadline:
            self.check_lost()
            if all(self.joined[c] in self.done or self.joined[c] in self.lost for c in waiting):
                return
            gevent.sleep(0.1)
        self.check_lost(reason="sent no last batch within the stop timeout")
        for client_id in waiting:
            index = self.joined[client_id]
            if index not in self.done and index not in self.lost:
                self.lost.add(index)
                self.record("lost", index=index, client_id=client_id,
                            reason="sent no last batch within the stop timeout",
                            received=self.received.get(index, 0))

    def close(self, **_: Any) -> None:
        for fh in self.files.values():
            fh.close()
        self.files.clear()
        self._log.flush()


def users_locustfile(environment: Environment) -> ShippedLocustfile | str | None:
    """The user's own locustfile this master runs (read now), None for the harness' own (a
    worker has that one installed), or why it cannot be shipped (a remote worker asking for
    it is told; local ``--processes`` workers share the disk and do not ask)."""
    files = [Path(f) for f in environment.parsed_locustfiles or []]
    if len(files) == 1 and files[0].resolve() == LOCUSTFILE.resolve():
        return None
    if len(files) != 1:
        return f"the master runs {len(files)} locustfiles; one can be shipped"
    try:
        return ShippedLocustfile.read(files[0])
    except (OSError, ValueError) as exc:
        return f"{files[0].name}: {exc}"


def install_master(environment: Environment, config: LoadRunConfig,
                   config_text: str) -> RowCollector:
    """The master side (see the module docstring)."""
    runner = environment.runner
    assert isinstance(runner, MasterRunner)
    found = users_locustfile(environment)
    shipped = found if isinstance(found, ShippedLocustfile) else None
    collector = RowCollector(runner, config, config_text, shipped,
                             found if isinstance(found, str) else "")
    runner.register_message(MSG_ROWS, collector.on_rows)
    runner.register_message(MSG_DONE, collector.on_done)
    runner.register_message(MSG_CONFIG, collector.on_config)
    events = environment.events
    events.worker_connect.add_listener(collector.on_connect)
    events.test_stopping.add_listener(collector.drain)
    events.quitting.add_listener(collector.close)
    gevent.spawn(collector.watch)
    collector.record("master", pid=os.getpid(), bind_host=runner.master_bind_host,
                     bind_port=runner.master_bind_port,
                     locustfile=shipped.name if shipped else None,
                     locustfile_sha256=shipped.sha256 if shipped else None,
                     locustfile_error=collector.locustfile_error or None)
    return collector
