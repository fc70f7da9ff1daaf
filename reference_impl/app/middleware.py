"""The request middleware: request ids, in-flight accounting, the concurrency gate,
the request deadline, per-route metrics and the slow-request log.

Written as plain ASGI (not ``BaseHTTPMiddleware``) so streaming responses pass
through untouched and there is no extra task per request.

- Every response carries ``X-Request-Id`` (the caller's, when it sent a sane
  one; else a fresh one), and the id is in every log line of the request.
- In-flight requests are counted so a graceful shutdown can wait for them.
- The gate (``gate.py``) serves ``limit`` requests at once and lets ``queue``
  more wait, at most until the deadline; beyond that the answer is an
  immediate 503 with ``Retry-After``: shed rather than queue. Probes (health,
  metrics, monitoring) bypass it so an overloaded app still answers them.
- The deadline (``deadlines.py``, one timer for all requests) bounds a request
  that has not started its response; past it the answer is 503 with
  ``Retry-After``, never a hang.

This runs on every request, so it avoids per-request syscalls, timers and tasks.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from reference_impl.app.deadlines import DEADLINE_MESSAGE, Deadlines
from reference_impl.app.gate import ConcurrencyGate, InFlight
from reference_impl.app.logs import REQUEST_ID
from reference_impl.app.metrics import HttpMetrics

__all__ = ["RequestMiddleware", "RequestPolicy"]

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
OVERLOADED = "overloaded: concurrency limit reached"
QUEUE_WAIT_WITHOUT_DEADLINE_S = 1.0  # the longest wait for a slot on a path without a deadline


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
    deadlines: Deadlines | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        if self.deadline_s is not None:
            self.deadlines = Deadlines(self.deadline_s)


class _RequestIds:
    """Fresh request ids: a random per-process prefix and a counter (no syscall per request;
    a forked child draws a new prefix)."""

    def __init__(self) -> None:
        self._renew()
        os.register_at_fork(after_in_child=self._renew)

    def _renew(self) -> None:
        self.prefix = os.urandom(6).hex()
        self.counter = itertools.count(1)

    def for_scope(self, scope: Scope) -> str:
        """The caller's ``X-Request-Id`` when it sent a sane one, else a fresh id."""
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                text = value.decode("latin-1")
                if _SANE_ID.match(text):
                    return text
        return f"{self.prefix}-{next(self.counter):x}"


_REQUEST_IDS = _RequestIds()


class _Exchange:
    """One request's response side: adds the request id, remembers the status."""

    __slots__ = ("_downstream", "header", "request_id", "started", "status")

    def __init__(self, downstream: Send, request_id: str) -> None:
        self._downstream = downstream
        self.request_id = request_id
        self.header = (b"x-request-id", request_id.encode())
        self.status = 0
        self.started = False

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", ()), self.header]
            self.status, self.started = message["status"], True
        await self._downstream(message)

    async def refuse(self, status: int, payload: dict[str, Any],
                     extra: tuple[tuple[bytes, bytes], ...] = ()) -> None:
        """Answer with a JSON error (only before the response has started)."""
        body = json.dumps(payload).encode()
        self.status = status
        await self._downstream({"type": "http.response.start", "status": status, "headers": [
            (b"content-type", b"application/json"), self.header,
            (b"content-length", str(len(body)).encode()), *extra]})
        await self._downstream({"type": "http.response.body", "body": body})

    async def refuse_503(self, reason: str, retry_after_s: int = 1) -> None:
        await self.refuse(503, {"error": reason, "retry_after_s": retry_after_s},
                          ((b"retry-after", str(retry_after_s).encode()),))


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else "unmatched"


def _has_deadline(path: str) -> bool:
    return not (path.startswith(NO_DEADLINE_PREFIXES) or path.endswith(NO_DEADLINE_SUFFIXES))


class RequestMiddleware:
    """The ASGI middleware described in the module docstring."""

    def __init__(self, app: ASGIApp, policy: RequestPolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # One coroutine for the whole request: every frame between the server and the
        # handler is resumed again at each of the handler's awaits.
        policy = self.policy
        path: str = scope["path"]
        gate = None if path.startswith(PROBE_PREFIXES) else policy.gate
        deadlines = policy.deadlines if _has_deadline(path) else None
        exchange = _Exchange(send, _REQUEST_IDS.for_scope(scope))
        token = REQUEST_ID.set(exchange.request_id)
        policy.inflight.enter()
        started = time.monotonic()
        task = asyncio.current_task()
        assert task is not None
        outside = task.cancelling()
        admitted = gate is None
        ours_alone = False
        try:
            if deadlines is not None:
                deadlines.watch(task)
            try:
                try:
                    if gate is not None:  # with a deadline, the deadline bounds the wait
                        admitted = gate.try_enter() or await gate.enter(
                            None if deadlines is not None else QUEUE_WAIT_WITHOUT_DEADLINE_S)
                        if not admitted:
                            await exchange.refuse_503(OVERLOADED)
                            return
                    await self.app(scope, receive, exchange.send)
                finally:
                    if admitted and gate is not None:
                        gate.leave()
                    if deadlines is not None and deadlines.unwatch(task):
                        ours_alone = task.uncancel() <= outside
            except asyncio.CancelledError:
                if not ours_alone:
                    raise
                await self._deadline_passed(scope, exchange, gate if not admitted else None)
        except Exception as exc:  # only reached when no route-level handler took it
            if policy.on_error is None:
                raise
            policy.on_error(exc, f"handler {scope.get('method')} {path}")
            if not exchange.started:
                await exchange.refuse(500, {"error": "internal error", "type": type(exc).__name__,
                                            "request_id": exchange.request_id})
        finally:
            policy.inflight.leave()
            self._account(scope, exchange.status, time.monotonic() - started)
            REQUEST_ID.reset(token)

    async def _deadline_passed(self, scope: Scope, exchange: _Exchange,
                               waiting_for: ConcurrencyGate | None) -> None:
        """The deadline cancelled the request: shed it if it never got a slot; else 503,
        or, with its response already started, an error for the boundary."""
        if waiting_for is not None:
            waiting_for.rejected += 1
            await exchange.refuse_503(OVERLOADED)
            return
        log.warning("request deadline of %.2fs exceeded: %s %s",
                    self.policy.deadline_s, scope.get("method"), scope["path"])
        if exchange.started:
            raise TimeoutError(DEADLINE_MESSAGE) from None
        await exchange.refuse_503(DEADLINE_MESSAGE)

    def _account(self, scope: Scope, status: int, elapsed_s: float) -> None:
        route = _route_template(scope)
        self.policy.metrics.observe(scope.get("method", "?"), route, status, elapsed_s)
        if elapsed_s >= self.policy.slow_request_s:
            self.policy.slow_requests += 1
            log.warning("slow request: %s %s -> %s in %.1f ms", scope.get("method"),
                        scope.get("path"), status, elapsed_s * 1000)
