"""The conductor's side of Locust workers: relay the master's ``workers.jsonl`` into the
timeline (no locust import).

The master (:mod:`harness.load.distributed`) appends one line per worker event to
``<requests dir>/workers.jsonl``, with ``t_s`` on the run's clock (it runs on the
conductor's host). :class:`WorkerRelay` reads the new lines each time it is polled and
writes them to ``timeline.jsonl`` with the master's ``t_s``:

* ``worker_joined``: ``index``, ``client_id``, ``host``;
* ``worker_done``: ``index``, ``sent`` (rows the worker shipped), ``received`` (rows that
  arrived), ``recorded``, ``dropped`` (rows it had to drop while the master was away),
  ``unsent``;
* ``worker_lost``: ``index``, ``reason``, ``received`` (rows that came from it).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Protocol

from harness.records.timeline import TimelineEvent

__all__ = ["WORKERS_FILE", "WorkerRelay"]

WORKERS_FILE = "workers.jsonl"
_EVENTS = {"joined": "worker_joined", "done": "worker_done", "lost": "worker_lost"}


class _Log(Protocol):
    def now_s(self) -> float: ...

    def append(self, event: TimelineEvent) -> TimelineEvent: ...


class WorkerRelay:
    """Tails ``workers.jsonl``; every complete new line becomes a timeline event."""

    def __init__(self, requests_dir: Path, log: _Log) -> None:
        self.path = Path(requests_dir) / WORKERS_FILE
        self.log = log
        self._offset = 0
        self.joined: dict[int, dict[str, object]] = {}
        self.done: dict[int, dict[str, object]] = {}
        self.lost: dict[int, dict[str, object]] = {}

    def poll(self) -> WorkerRelay:
        """Relay the lines written since the last poll (a torn last line waits)."""
        try:
            with self.path.open("rb") as fh:
                fh.seek(self._offset)
                data = fh.read()
        except FileNotFoundError:
            return self
        end = data.rfind(b"\n") + 1
        self._offset += end
        for raw in data[:end].splitlines():
            try:
                line = json.loads(raw)
            except ValueError:
                continue
            event = _EVENTS.get(str(line.pop("event", "")))
            if event is None or not isinstance(line.get("index"), int):
                continue
            {"worker_joined": self.joined, "worker_done": self.done,
             "worker_lost": self.lost}[event][line["index"]] = line
            t_s = line.get("t_s")
            self.log.append(TimelineEvent(
                event, float(t_s) if isinstance(t_s, int | float) else self.log.now_s(),
                extra={k: v for k, v in line.items() if k != "t_s"}))
        return self

    def summary(self) -> list[dict[str, object]]:
        """One entry per worker that joined: its host and what came of it, for run.json."""
        out = []
        for index, joined in sorted(self.joined.items()):
            done, lost = self.done.get(index), self.lost.get(index)
            out.append({"index": index, "host": joined.get("host"),
                        "status": "lost" if lost else "done" if done else "unknown",
                        "sent": (done or {}).get("sent"),
                        "received": (done or lost or {}).get("received")})
        return out
