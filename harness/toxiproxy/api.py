"""The Toxiproxy v2 HTTP API: routes, handlers and the proxy collection.

Shapes, defaults, status codes and messages follow the Go server; docs/toxiproxy-api.md
describes them as implemented here, with the known differences. Every handler runs under one
lock, as the Go server's collection mutex does, and every handler is bounded:
stopping a proxy aborts its sockets, and toxic changes interrupt stage tasks
with a bound, so no call can hang behind traffic.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from harness.toxiproxy.apierror import (
    PROXY_EXISTS,
    PROXY_NOT_FOUND,
    TOXIC_EXISTS,
    TOXIC_NOT_FOUND,
    ApiError,
    bad_request,
    missing_field,
)
from harness.toxiproxy.jsonbody import (
    as_object,
    decode_json,
    field_bool,
    field_str,
    json_kind,
)
from harness.toxiproxy.proxy import Proxy
from harness.toxiproxy.toxics import (
    Toxic,
    merge_toxic_update,
    parse_toxic_attributes,
    parse_toxic_header,
)

__all__ = ["VERSION", "Response", "ToxiproxyApi"]

VERSION = "2.12.0"
_PROXY_STRUCT = "main.Proxy"


@dataclass(frozen=True)
class Response:
    """What a handler answers; the HTTP layer adds the request id and framing."""

    status: int
    body: bytes = b""
    content_type: str = "application/json"


def json_response(status: int, value: Any, newline: bool = False) -> Response:
    body = json.dumps(value, separators=(",", ":")).encode()
    return Response(status, body + (b"\n" if newline else b""))


def error_response(error: ApiError, extra: dict[str, object] | None = None) -> Response:
    return json_response(error.status, {**error.body(), **(extra or {})}, newline=True)


Handler = Callable[[list[str], bytes], Awaitable[Response]]


@dataclass(frozen=True)
class _ProxySpec:
    name: str
    listen: str
    upstream: str
    enabled: bool
    toxics: Any = None  # the raw "toxics" array; used only with populate_toxics


def _proxy_spec(obj: dict[str, object]) -> _ProxySpec:
    return _ProxySpec(
        name=field_str(obj, "name", f"{_PROXY_STRUCT}.name"),
        listen=field_str(obj, "listen", f"{_PROXY_STRUCT}.listen"),
        upstream=field_str(obj, "upstream", f"{_PROXY_STRUCT}.upstream"),
        enabled=field_bool(obj, "enabled", f"{_PROXY_STRUCT}.enabled", default=True),
        toxics=obj.get("toxics"),
    )


def _entry_toxics(raw: Any, index: int) -> list[Toxic]:
    """The toxics of a populate entry (opt-in extra), validated like POST .../toxics;
    errors name the entry (``... at proxy N``)."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise bad_request(f"toxics must be an array at proxy {index}")
    toxics: list[Toxic] = []
    try:
        for item in raw:
            obj = as_object(item, "toxics.ToxicWrapper")
            toxic = parse_toxic_header(obj)
            if any(t.name == toxic.name for t in toxics):
                raise ApiError(409, TOXIC_EXISTS)
            toxic.attributes = parse_toxic_attributes(toxic.type, obj.get("attributes"))
            toxics.append(toxic)
    except ApiError as exc:
        raise ApiError(exc.status, f"{exc.message} at proxy {index}") from None
    return toxics


class ToxiproxyApi:
    """The proxy collection and its HTTP handlers (see :meth:`dispatch`)."""

    def __init__(
        self, rng: random.Random, *, populate_toxics: bool = False, proxy_metrics: bool = False
    ) -> None:
        self.rng = rng
        self.proxy_metrics = proxy_metrics  # serve /metrics (else it is an unknown path)
        self.populate_toxics = populate_toxics  # opt-in: apply "toxics" of populate entries
        self.proxies: dict[str, Proxy] = {}
        self._lock = asyncio.Lock()
        self._routes: list[tuple[tuple[str, ...], dict[str, Handler]]] = [
            (("proxies",), {"GET": self.list_proxies, "POST": self.create_proxy}),
            (("populate",), {"POST": self.populate}),
            (("reset",), {"POST": self.reset}),
            (("version",), {"GET": self.version}),
            (("metrics",), {"GET": self.metrics}),
            (("proxies", "*"), {
                "GET": self.get_proxy, "POST": self.update_proxy,
                "PATCH": self.update_proxy, "DELETE": self.delete_proxy,
            }),
            (("proxies", "*", "toxics"), {"GET": self.list_toxics, "POST": self.create_toxic}),
            (("proxies", "*", "toxics", "*"), {
                "GET": self.get_toxic, "POST": self.update_toxic,
                "PATCH": self.update_toxic, "DELETE": self.delete_toxic,
            }),
        ]

    async def dispatch(self, method: str, segments: list[str], body: bytes) -> Response:
        """Route a request: 404 for an unknown path, 405 for a known path's other methods."""
        for pattern, methods in self._routes:
            if pattern == ("metrics",) and not self.proxy_metrics:
                continue
            if len(pattern) != len(segments):
                continue
            if any(p != "*" and p != s for p, s in zip(pattern, segments, strict=True)):
                continue
            handler = methods.get(method)
            if handler is None:
                return error_response(ApiError(405, "method not allowed"))
            params = [s for p, s in zip(pattern, segments, strict=True) if p == "*"]
            async with self._lock:
                try:
                    return await handler(params, body)
                except ApiError as exc:
                    return error_response(exc)
        return Response(404, b"404 page not found\n", "text/plain; charset=utf-8")

    async def shutdown(self) -> None:
        """Stop every proxy (listeners closed, connections aborted)."""
        async with self._lock:
            for proxy in self.proxies.values():
                await proxy.stop()

    # -- proxies --------------------------------------------------------------------

    def _proxy(self, name: str) -> Proxy:
        proxy = self.proxies.get(name)
        if proxy is None:
            raise ApiError(404, PROXY_NOT_FOUND)
        return proxy

    async def list_proxies(self, _params: list[str], _body: bytes) -> Response:
        return json_response(200, {name: p.to_json() for name, p in self.proxies.items()})

    async def create_proxy(self, _params: list[str], body: bytes) -> Response:
        spec = _proxy_spec(as_object(decode_json(body), "main.proxyToxics"))
        if not spec.name:
            raise missing_field("name")
        if not spec.upstream:
            raise missing_field("upstream")
        if spec.name in self.proxies:
            raise ApiError(409, PROXY_EXISTS)
        proxy = Proxy(spec.name, spec.listen, spec.upstream, self.rng)
        if spec.enabled:
            await proxy.start()
        self.proxies[spec.name] = proxy
        return json_response(201, proxy.to_json())

    async def get_proxy(self, params: list[str], _body: bytes) -> Response:
        return json_response(200, self._proxy(params[0]).to_json())

    async def update_proxy(self, params: list[str], body: bytes) -> Response:
        proxy = self._proxy(params[0])
        obj = as_object(decode_json(body), "main.proxyToxics")
        listen = field_str(obj, "listen", f"{_PROXY_STRUCT}.listen", default=proxy.listen)
        upstream = field_str(obj, "upstream", f"{_PROXY_STRUCT}.upstream", default=proxy.upstream)
        enabled = field_bool(obj, "enabled", f"{_PROXY_STRUCT}.enabled", default=proxy.enabled)
        field_str(obj, "name", f"{_PROXY_STRUCT}.name")  # ignored, but type-checked as Go does
        await proxy.update(listen, upstream, enabled)
        return json_response(200, proxy.to_json())

    async def delete_proxy(self, params: list[str], _body: bytes) -> Response:
        proxy = self._proxy(params[0])
        await proxy.stop()
        del self.proxies[params[0]]
        return Response(204)

    async def populate(self, _params: list[str], body: bytes) -> Response:
        value = decode_json(body)
        if value is None:
            value = []
        if not isinstance(value, list):
            kind = json_kind(value)
            raise bad_request(f"json: cannot unmarshal {kind} into Go value of type []main.Proxy")
        specs = [_proxy_spec(as_object(item, "main.Proxy")) for item in value]
        for index, spec in enumerate(specs, start=1):
            if not spec.name:
                raise missing_field(f"name at proxy {index}")
            if not spec.upstream:
                raise missing_field(f"upstream at proxy {index}")
        entry_toxics = [_entry_toxics(spec.toxics, index) if self.populate_toxics else []
                        for index, spec in enumerate(specs, start=1)]
        done: list[Proxy] = []
        for spec, toxics in zip(specs, entry_toxics, strict=True):
            try:
                done.append(await self._add_or_replace(spec, toxics))
            except ApiError as exc:
                return error_response(exc, {"proxies": [p.to_json() for p in done]})
        return json_response(201, {"proxies": [p.to_json() for p in done]})

    async def _add_or_replace(self, spec: _ProxySpec, toxics: list[Toxic]) -> Proxy:
        existing = self.proxies.get(spec.name)
        if existing is not None:
            unchanged = existing.upstream == spec.upstream and not await existing.listen_changes(
                spec.listen
            )
            if unchanged:
                return existing
            await existing.stop()
            del self.proxies[spec.name]
        proxy = Proxy(spec.name, spec.listen, spec.upstream, self.rng)
        proxy.toxics = list(toxics)
        if spec.enabled:
            await proxy.start()
        self.proxies[spec.name] = proxy
        return proxy

    async def reset(self, _params: list[str], _body: bytes) -> Response:
        for proxy in list(self.proxies.values()):
            await proxy.start()
            await proxy.remove_all_toxics()
        return Response(204)

    async def metrics(self, _params: list[str], _body: bytes) -> Response:
        """Per-proxy byte counters, one metric family after the other (Prometheus text)."""
        lines: list[str] = []
        for metric, what in (("received", "read from"), ("sent", "written to")):
            name = f"toxiproxy_proxy_{metric}_bytes_total"
            lines += [f"# HELP {name} Bytes {what} a proxy's sockets, per direction",
                      f"# TYPE {name} counter"]
            for proxy in self.proxies.values():
                lines += [line for line in proxy.metrics_lines() if line.startswith(name + "{")]
        return Response(200, ("\n".join(lines) + "\n").encode(),
                        "text/plain; version=0.0.4; charset=utf-8")

    async def version(self, _params: list[str], _body: bytes) -> Response:
        return json_response(200, {"version": VERSION}, newline=True)

    # -- toxics ----------------------------------------------------------------------

    async def list_toxics(self, params: list[str], _body: bytes) -> Response:
        proxy = self._proxy(params[0])
        return json_response(200, [t.to_json() for t in proxy.ordered_toxics()])

    async def create_toxic(self, params: list[str], body: bytes) -> Response:
        proxy = self._proxy(params[0])
        obj = as_object(decode_json(body), "toxics.ToxicWrapper")
        toxic = parse_toxic_header(obj)
        if proxy.find_toxic(toxic.name) is not None:
            raise ApiError(409, TOXIC_EXISTS)
        toxic.attributes = parse_toxic_attributes(toxic.type, obj.get("attributes"))
        await proxy.add_toxic(toxic)
        return json_response(200, toxic.to_json())

    def _toxic(self, params: list[str]) -> tuple[Proxy, Any]:
        proxy = self._proxy(params[0])
        toxic = proxy.find_toxic(params[1])
        if toxic is None:
            raise ApiError(404, TOXIC_NOT_FOUND)
        return proxy, toxic

    async def get_toxic(self, params: list[str], _body: bytes) -> Response:
        _proxy, toxic = self._toxic(params)
        return json_response(200, toxic.to_json())

    async def update_toxic(self, params: list[str], body: bytes) -> Response:
        proxy, toxic = self._toxic(params)
        updated = merge_toxic_update(toxic, as_object(decode_json(body), "toxics.ToxicWrapper"))
        await proxy.update_toxic(updated)
        return json_response(200, updated.to_json())

    async def delete_toxic(self, params: list[str], _body: bytes) -> Response:
        proxy, toxic = self._toxic(params)
        await proxy.remove_toxic(toxic.name)
        return Response(204)
