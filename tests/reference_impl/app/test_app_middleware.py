"""Unit tests of the request middleware on a tiny FastAPI app (in-process ASGI, no sockets:
sockets are not the point here; the subprocess tests cover the real server)."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest
from fastapi import FastAPI

from reference_impl.app.gate import ConcurrencyGate, InFlight
from reference_impl.app.logs import RequestIdFilter, current_request_id
from reference_impl.app.metrics import HttpMetrics
from reference_impl.app.middleware import RequestMiddleware, RequestPolicy

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _app(policy: RequestPolicy, release: asyncio.Event | None = None) -> FastAPI:
    app = FastAPI()

    @app.get("/api/slow")
    async def slow() -> dict[str, str]:
        if release is not None:
            await release.wait()
        return {"request_id": current_request_id()}

    @app.get("/api/rooms/r/export")  # no deadline on an export
    async def export() -> dict[str, str]:
        if release is not None:
            await release.wait()
        return {"request_id": current_request_id()}

    @app.get("/api/boom")
    async def boom() -> dict[str, str]:
        raise ValueError("boom in a handler")

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "alive"}

    app.add_middleware(RequestMiddleware, policy=policy)
    return app


def _client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


def _policy(**kw: object) -> RequestPolicy:
    return RequestPolicy(inflight=InFlight(), metrics=HttpMetrics(), slow_request_s=10.0,
                         **kw)  # type: ignore[arg-type]


async def test_request_id_is_echoed_or_generated_and_visible_in_the_handler() -> None:
    """A sane X-Request-Id comes back unchanged and is the handler's context id; else a new one."""
    async with _client(_app(_policy())) as client:
        given = await client.get("/api/slow", headers={"X-Request-Id": "abc-123"})
        fresh = await client.get("/api/slow", headers={"X-Request-Id": "bad id with spaces"})
    assert given.headers["x-request-id"] == "abc-123" == given.json()["request_id"]
    assert fresh.headers["x-request-id"] != "bad id with spaces"
    assert fresh.json()["request_id"] == fresh.headers["x-request-id"]


async def test_gate_sheds_beyond_limit_plus_queue_but_not_probes() -> None:
    """limit 1 + queue 1: the third concurrent request is 503 at once; /health still answers."""
    release = asyncio.Event()
    gate = ConcurrencyGate(limit=1, queue=1)
    policy = _policy(gate=gate, deadline_s=5.0)
    async with _client(_app(policy, release)) as client:
        first = asyncio.create_task(client.get("/api/slow"))
        second = asyncio.create_task(client.get("/api/slow"))
        for _ in range(100):
            if gate.active == 1 and gate.waiting == 1:
                break
            await asyncio.sleep(0.01)
        shed = await client.get("/api/slow")
        probe = await client.get("/health")
        release.set()
        results = await asyncio.gather(first, second)
    assert shed.status_code == 503 and shed.headers["retry-after"] == "1"
    assert "x-request-id" in shed.headers
    assert probe.status_code == 200
    assert [r.status_code for r in results] == [200, 200]
    assert gate.stats()["rejected"] == 1 and gate.active == 0


async def test_deadline_turns_a_hang_into_503() -> None:
    """A handler that never finishes is answered 503 + Retry-After at the deadline."""
    policy = _policy(deadline_s=0.2)
    async with _client(_app(policy, asyncio.Event())) as client:
        response = await client.get("/api/slow")
    assert response.status_code == 503 and response.headers["retry-after"] == "1"
    assert policy.inflight.count == 0
    assert policy.deadlines is not None and policy.deadlines.fired == 1


async def test_unhandled_handler_error_goes_to_on_error_and_500_json() -> None:
    """With on_error (resilient), an exception is recorded and answered 500 JSON with the id."""
    seen: list[tuple[str, str]] = []
    policy = _policy(on_error=lambda exc, source: seen.append((type(exc).__name__, source)))
    async with _client(_app(policy)) as client:
        response = await client.get("/api/boom")
    assert response.status_code == 500
    assert response.json()["request_id"] == response.headers["x-request-id"]
    assert seen == [("ValueError", "handler GET /api/boom")]


async def test_without_on_error_the_exception_propagates() -> None:
    """The naive profile has no boundary: the error escapes the middleware."""
    async with _client(_app(_policy())) as client:
        with pytest.raises(ValueError, match="boom"):
            await client.get("/api/boom")


async def test_metrics_count_by_route_template_and_slow_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Requests are counted under their route template; a slow one is logged with its id."""
    policy = _policy()
    policy.slow_request_s = 0.0
    async with _client(_app(policy)) as client:
        await client.get("/api/slow", headers={"X-Request-Id": "slow-1"})
    text = policy.metrics.render().decode()
    assert 'http_requests_total{method="GET",route="/api/slow",status="200"} 1.0' in text
    record = next(r for r in caplog.records if "slow request" in r.getMessage())
    RequestIdFilter().filter(record)
    assert policy.slow_requests == 1 and "GET /api/slow" in record.getMessage()


async def test_inflight_wait_idle_is_bounded() -> None:
    """wait_idle returns False at its bound while a request is in flight, True once it leaves."""
    inflight = InFlight()
    inflight.enter()
    assert await inflight.wait_idle(0.05) is False
    inflight.leave()
    assert await inflight.wait_idle(0.05) is True


def test_logging_filter_defaults_to_dash() -> None:
    """Outside a request the request_id field is '-'."""
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", None, None)
    RequestIdFilter().filter(record)
    assert record.request_id == "-"  # type: ignore[attr-defined]


async def test_gate_never_sheds_when_clients_fit_limit_plus_queue() -> None:
    """Regression: two closed-loop clients on limit 1 + queue 1 are never shed, even at the
    instant a finishing request hands its slot to the waiting one."""
    gate = ConcurrencyGate(limit=1, queue=1)
    policy = _policy(gate=gate, deadline_s=5.0)

    async def client_loop(client: httpx.AsyncClient) -> list[int]:
        return [(await client.get("/api/slow")).status_code for _ in range(30)]

    async with _client(_app(policy)) as client:
        results = await asyncio.gather(client_loop(client), client_loop(client))
    assert {code for codes in results for code in codes} == {200}
    assert gate.rejected == 0 and gate.inside == 0


async def test_deadline_while_waiting_for_the_gate_sheds_as_overloaded() -> None:
    """A request that finds no slot before its deadline is shed (503, counted as rejected)
    and leaves the line; the request holding the slot (an export: no deadline) completes."""
    release = asyncio.Event()
    gate = ConcurrencyGate(limit=1, queue=5)
    policy = _policy(gate=gate, deadline_s=0.2)
    async with _client(_app(policy, release)) as client:
        holder = asyncio.create_task(client.get("/api/rooms/r/export"))
        await asyncio.sleep(0.05)
        queued = await client.get("/api/slow")
        release.set()
        held = await holder
    assert queued.status_code == 503 and "overloaded" in queued.json()["error"]
    assert queued.headers["retry-after"] == "1"
    assert held.status_code == 200
    assert gate.rejected == 1 and gate.inside == 0 and policy.inflight.count == 0


async def test_a_cancellation_from_outside_is_not_taken_for_the_deadline() -> None:
    """Cancelling the request's task (a client gone, a shutdown) propagates as a cancellation,
    not a 503, and the deadline never fires for it afterwards."""
    policy = _policy(deadline_s=0.2)
    app = _app(policy, asyncio.Event())
    async with _client(app) as client:
        request = asyncio.create_task(client.get("/api/slow"))
        await asyncio.sleep(0.05)
        request.cancel()
        with pytest.raises(asyncio.CancelledError):
            await request
        await asyncio.sleep(0.25)
    assert policy.deadlines is not None and policy.deadlines.fired == 0
    assert policy.inflight.count == 0
