"""The request middleware: request ids, in-flight accounting, the concurrency gate,
the request deadline, per-route metrics and the slow-request log.

Written as plain ASGI (not ``BaseHTTPMiddleware``) so streaming responses pass
through untouched and there is no extra task per request.

- Every response carries ``X-Request-Id`` (the caller's, when it sent a sane
  one; else a fresh one), and the id is in every log line of the request.
- In-flight requests are counted so a graceful shutdown can wait for them.
- The gate serves ``limit`` requests at once and lets ``queue`` more wait (at
  most until the deadline); beyond that the answer is an immediate 503 with
  ``Retry-After`` — shed rather than queue. Probes (health, metrics,
  monitoring) bypass it so an overloaded app still answers them.
- The deadline bounds a request that has not started its response; past it the
  answer is 503 with ``Retry-After``, never a hang.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from reference_impl.app.logs import REQUEST_ID
from reference_impl.app.metrics import HttpMetrics

__all__ = ["ConcurrencyGate", "InFlight", "RequestMiddleware", "RequestPolicy"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

log = logging.getLogger("reference_impl.http")
_SANE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
PROBE_PREFIXES = ("/health", "/metrics", "/api/monitoring")
NO_DEADLINE_PREFIXES = ("/health", "/metrics", "/api/chaos")
NO_DEADLINE_SUFFIXES = ("/export",)


class InFlight:
    """How many requests are being served; ``wait_idle`` returns when none are."""

    def __init__(self) -> None:
        self.count = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def enter(self) -> None:
        self.count += 1
        self._idle.clear()

    def leave(self) -> None:
        self.count -= 1
        if self.count <= 0:
            self.count = 0
            self._idle.set()

    async def wait_idle(self, timeout_s: float) -> bool:
        """True when no request is in flight within ``timeout_s``."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout_s)
        except TimeoutError:
            return False
        return True


class ConcurrencyGate:
    """At most ``limit`` requests at once, at most ``queue`` waiting; the rest are shed.

    Admission counts requests inside the gate (waiting or active), so a slot
    being handed from a finishing request to a waiting one is never mistaken
    for a full queue.
    """

    def __init__(self, limit: int, queue: int) -> None:
        self.limit = limit
        self.queue = queue
        self.inside = 0
        self.active = 0
        self.waiting = 0
        self.rejected = 0
        self._slots = asyncio.Semaphore(limit)

    async def acquire(self, timeout_s: float) -> bool:
        """Take a slot; False (counted in ``rejected``) when full or when the wait times out."""
        if self.inside >= self.limit + self.queue:
            self.rejected += 1
            return False
        self.inside += 1
        if self._slots.locked():
            self.waiting += 1
            try:
                async with asyncio.timeout(timeout_s):  # wait_for would add a task per wait
                    await self._slots.acquire()
            except TimeoutError:
                self.inside -= 1
                self.rejected += 1
                return False
            except BaseException:  # cancelled while waiting: leave the gate, propagate
                self.inside -= 1
                raise
            finally:
                self.waiting -= 1
        else:
            await self._slots.acquire()  # free slot: no wait, no timer
        self.active += 1
        return True

    def release(self) -> None:
        self.active -= 1
        self.inside -= 1
        self._slots.release()

    def stats(self) -> dict[str, int]:
        return {"limit": self.limit, "queue": self.queue, "active": self.active,
                "waiting": self.waiting, "rejected": self.rejected}


@dataclass
class RequestPolicy:
    """What the middleware enforces (the naive profile has no gate and no deadline)."""

    inflight: InFlight
    metrics: HttpMetrics
    slow_request_s: float
    gate: ConcurrencyGate | None = None
    deadline_s: float | None = None
    on_error: Callable[[BaseException, str], None] | None = None
    slow_requests: int = field(default=0)


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers") or ():
        if name == b"x-request-id":
            text = value.decode("latin-1")
            if _SANE_ID.match(text):
                return text
    return os.urandom(16).hex()  # uuid4's randomness, without building a UUID object


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else "unmatched"


def _has_deadline(path: str) -> bool:
    return not (path.startswith(NO_DEADLINE_PREFIXES) or path.endswith(NO_DEADLINE_SUFFIXES))


async def _send_json(
    send: Send, status: int, payload: dict[str, Any], request_id: str,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    body = json.dumps(payload).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"x-request-id", request_id.encode()),
        (b"content-length", str(len(body)).encode()), *(extra or [])]})
    await send({"type": "http.response.body", "body": body})


async def _send_503(send: Send, request_id: str, reason: str, retry_after_s: int = 1) -> None:
    await _send_json(send, 503, {"error": reason, "retry_after_s": retry_after_s}, request_id,
                     [(b"retry-after", str(retry_after_s).encode())])


class RequestMiddleware:
    """The ASGI middleware described in the module docstring."""

    def __init__(self, app: ASGIApp, policy: RequestPolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        token = REQUEST_ID.set(request_id)
        self.policy.inflight.enter()
        started = time.monotonic()
        state: dict[str, Any] = {"status": 0, "started": False}
        try:
            await self._serve(scope, receive, send, request_id, state)
        except Exception as exc:  # only reached when no route-level handler took it
            if self.policy.on_error is None:
                raise
            self.policy.on_error(exc, f"handler {scope.get('method')} {scope.get('path')}")
            if not state["started"]:
                state["status"] = 500
                await _send_json(send, 500, {"error": "internal error", "type": type(exc).__name__,
                                             "request_id": request_id}, request_id)
        finally:
            self.policy.inflight.leave()
            self._account(scope, state["status"], time.monotonic() - started)
            REQUEST_ID.reset(token)

    async def _serve(
        self, scope: Scope, receive: Receive, send: Send, request_id: str, state: dict[str, Any]
    ) -> None:
        header = (b"x-request-id", request_id.encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), header]
                state["status"], state["started"] = message["status"], True
            await send(message)

        path: str = scope.get("path", "")
        gate = None if path.startswith(PROBE_PREFIXES) else self.policy.gate
        deadline = self.policy.deadline_s if _has_deadline(path) else None
        if gate is not None and not await gate.acquire(deadline or 1.0):
            state["status"] = 503
            await _send_503(send, request_id, "overloaded: concurrency limit reached")
            return
        try:
            if deadline is None:
                await self.app(scope, receive, send_with_id)
                return
            try:
                async with asyncio.timeout(deadline):
                    await self.app(scope, receive, send_with_id)
            except TimeoutError:
                log.warning("request deadline of %.2fs exceeded: %s %s",
                            deadline, scope.get("method"), path)
                if state["started"]:
                    raise
                state["status"] = 503
                await _send_503(send, request_id, "request deadline exceeded")
        finally:
            if gate is not None:
                gate.release()

    def _account(self, scope: Scope, status: int, elapsed_s: float) -> None:
        route = _route_template(scope)
        self.policy.metrics.observe(scope.get("method", "?"), route, status, elapsed_s)
        if elapsed_s >= self.policy.slow_request_s:
            self.policy.slow_requests += 1
            log.warning("slow request: %s %s -> %s in %.1f ms", scope.get("method"),
                        scope.get("path"), status, elapsed_s * 1000)
