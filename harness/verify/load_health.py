"""Was the load whole? Locust workers that joined, finished or were lost (timeline lines
``worker_joined``, ``worker_done``, ``worker_lost``, relayed by the conductor from the
load's master), as the ``load`` section of result.json.

The load is **degraded** when a worker was lost mid-run (its users stopped sending, and
the rows it had not shipped yet never arrived) or when a worker that finished sent more
rows than arrived or had to drop rows. Degraded does not change an SLO verdict by itself:
the verdicts are judged on the rows that did arrive, and the report says the load was
smaller than asked for and why.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from harness.records import TimelineEvent

__all__ = ["load_health"]


def load_health(events: Sequence[TimelineEvent]) -> dict[str, Any]:
    """The ``load`` section: ``workers`` (one entry per worker), ``lost`` (their indexes),
    ``degraded`` and ``reason``."""
    workers: dict[int, dict[str, Any]] = {}
    for e in events:
        if e.event not in ("worker_joined", "worker_done", "worker_lost"):
            continue
        x = e.extra
        index = x.get("index")
        if not isinstance(index, int):
            continue
        w = workers.setdefault(index, {"index": index, "host": None, "joined_s": None,
                                       "status": "running", "sent": None, "received": None})
        if e.event == "worker_joined":
            w.update(host=x.get("host"), joined_s=e.t_s)
        elif e.event == "worker_done" and w["status"] != "lost":
            w.update(status="done", sent=x.get("sent"), received=x.get("received"),
                     dropped=x.get("dropped") or 0)
        elif e.event == "worker_lost":
            w.update(status="lost", lost_s=e.t_s, received=x.get("received"),
                     last_rows_s=x.get("last_rows_s"), reason=x.get("reason"))
    reasons = []
    lost = sorted(i for i, w in workers.items() if w["status"] == "lost")
    for i in lost:
        w = workers[i]
        last = w.get("last_rows_s")
        heard = f", its last rows at {last:.1f} s" if isinstance(last, int | float) else ""
        reasons.append(f"worker {i} ({w.get('host') or '?'}) lost at {w['lost_s']:.1f} s: "
                       f"{w.get('reason') or 'gone'}{heard}; {w.get('received') or 0} rows came "
                       "from it")
    for i, w in sorted(workers.items()):
        if w["status"] != "done":
            continue
        if (w["sent"] or 0) > (w["received"] or 0) or w.get("dropped"):
            reasons.append(f"worker {i}: {w['received']} of {w['sent']} rows arrived, "
                           f"{w.get('dropped', 0)} dropped")
    return {"workers": [workers[i] for i in sorted(workers)], "lost": lost,
            "degraded": bool(reasons), "reason": "; ".join(reasons) or None}
