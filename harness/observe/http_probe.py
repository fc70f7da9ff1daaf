"""Poll the app's liveness, readiness and stats endpoints concurrently, each under a timeout.

Three outcomes per endpoint, kept apart because verify reads them differently:

- an answer: ``live``/``ready`` are ``status == 200``; the stats body is parsed;
- no answer in time (a frozen app): the field is ``None`` and named in ``missing``;
- connection refused or reset (the app is down): ``live``/``ready`` are ``False``
  (the harness knows the app is not serving), the stats are ``None`` and missing.

A 404 means the target has no such endpoint (a user's own service): ``None``,
not missing, since no tick would ever fill it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import httpx

from harness.observe.app_stats import extract_stats

__all__ = ["AppProbe", "ProbeResult", "make_client"]

LIVE_PATH = "/health"
READY_PATH = "/health/ready"
STATS_PATH = "/api/monitoring/stats"


def make_client(timeout_s: float) -> httpx.AsyncClient:
    """An HTTP client for probes: no keep-alive, so a restarted app never meets a stale socket."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout_s),
        limits=httpx.Limits(max_keepalive_connections=0),
        follow_redirects=False,
        trust_env=False,
    )


@dataclass
class _Answer:
    status: int | None = None
    body: Any = None
    timed_out: bool = False


@dataclass
class ProbeResult:
    """Sample fields from the app's HTTP endpoints and the names of those that did not answer."""

    fields: dict[str, object]
    missing: list[str] = field(default_factory=list)


async def _get(client: httpx.AsyncClient, url: str, timeout_s: float, want_json: bool) -> _Answer:
    try:
        async with asyncio.timeout(timeout_s):
            response = await client.get(url)
            body: Any = None
            if want_json and response.status_code == 200:
                try:
                    body = response.json()
                except ValueError:
                    body = None
            return _Answer(status=response.status_code, body=body)
    except (TimeoutError, httpx.TimeoutException):
        return _Answer(timed_out=True)
    except httpx.HTTPError:
        return _Answer()  # refused, reset, closed: the app is not serving


def _flag(answer: _Answer, name: str, missing: list[str]) -> bool | None:
    if answer.timed_out:
        missing.append(name)
        return None
    if answer.status == 404:
        return None
    return answer.status == 200


class AppProbe:
    """Probes one app by base URL; ``probe`` returns the HTTP part of a sample.

    Each path is optional: ``""`` means the target has no such endpoint, so it is never
    asked and its fields are ``None`` without being missing (verify then says *not
    measured* for the checks that need it).
    """

    def __init__(self, base_url: str, timeout_s: float, live_path: str = LIVE_PATH,
                 ready_path: str = READY_PATH, stats_path: str = STATS_PATH) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.paths = (live_path, ready_path, stats_path)

    async def probe(self, client: httpx.AsyncClient) -> ProbeResult:
        """GET liveness, readiness and stats at once; bounded by ``timeout_s`` in all."""
        live, ready, stats = await asyncio.gather(*(
            _get(client, self.base_url + path, self.timeout_s, want_json) if path else _none()
            for path, want_json in zip(self.paths, (False, False, True), strict=True)
        ))
        missing: list[str] = []
        fields: dict[str, object] = {
            "ready": _flag(ready, "ready", missing),
            "live": _flag(live, "live", missing),
        }
        body = stats.body if isinstance(stats.body, dict) else None
        if body is None and stats.status != 404 and self.paths[2]:
            missing.append("app_stats")
        fields.update(extract_stats(body))
        fields["app_stats"] = body
        return ProbeResult(fields=fields, missing=missing)


async def _none() -> _Answer:
    """The answer of an endpoint the target does not have (as a 404: no figure, not missing)."""
    return _Answer(status=404)
