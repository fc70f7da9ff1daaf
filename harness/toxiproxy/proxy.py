"""One named proxy: a listener, its live connections, and its toxics.

State rules follow Toxiproxy: ``listen`` shows the bound address once bound
(and keeps that text while disabled, so enabling binds the same port again);
disabling closes the listener before returning and aborts every connection;
toxics live on the proxy, survive disable/enable, and every change is applied
to the live connections' links.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

from harness.toxiproxy.address import (
    ListenError,
    bind_listener,
    format_host_port,
    resolve_listen,
)
from harness.toxiproxy.apierror import ApiError
from harness.toxiproxy.connection import Connection
from harness.toxiproxy.toxics import Toxic

__all__ = ["Proxy"]


class Proxy:
    """A Toxiproxy proxy. Construction has no side effects; :meth:`start` binds."""

    def __init__(self, name: str, listen: str, upstream: str, rng: random.Random) -> None:
        self.name = name
        self.listen = listen
        self.upstream = upstream
        self.enabled = False
        self.toxics: list[Toxic] = []
        self.connections: set[Connection] = set()
        self.byte_counters = {"upstream": [0, 0], "downstream": [0, 0]}  # received, sent
        self._rng = rng
        self._server: asyncio.AbstractServer | None = None
        self._bound: tuple[str, int] | None = None

    # -- JSON ---------------------------------------------------------------------------

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "listen": self.listen,
            "upstream": self.upstream,
            "enabled": self.enabled,
            "toxics": [t.to_json() for t in self.ordered_toxics()],
        }

    def ordered_toxics(self) -> list[Toxic]:
        """Upstream toxics then downstream ones, each in creation order (the API's order)."""
        return self.toxics_for("upstream") + self.toxics_for("downstream")

    def toxics_for(self, stream: str) -> list[Toxic]:
        return [t for t in self.toxics if t.stream == stream]

    def counters_for(self, stream: str) -> list[int]:
        """[bytes received, bytes sent] of one direction, shared by every connection."""
        return self.byte_counters[stream]

    def metrics_lines(self) -> list[str]:
        """Prometheus samples for this proxy, named as the Go server's --proxy-metrics."""
        lines = []
        for index, metric in enumerate(("received", "sent")):
            for direction, counters in self.byte_counters.items():
                labels = (f'direction="{direction}",listener="{_escape(self.listen)}",'
                          f'proxy="{_escape(self.name)}",upstream="{_escape(self.upstream)}"')
                lines.append(f"toxiproxy_proxy_{metric}_bytes_total{{{labels}}} {counters[index]}")
        return lines

    def find_toxic(self, name: str) -> Toxic | None:
        return next((t for t in self.toxics if t.name == name), None)

    # -- listener -----------------------------------------------------------------------

    async def start(self) -> None:
        """Bind ``listen`` and accept; 500 with the OS message when it cannot be bound."""
        if self.enabled:
            return
        try:
            host, port = await resolve_listen(self.listen)
            sock = bind_listener(host, port)
        except ListenError as exc:
            raise ApiError(500, str(exc)) from None
        loop = asyncio.get_running_loop()
        try:
            self._server = await loop.create_server(self._accept, sock=sock, backlog=1024)
        except OSError as exc:
            sock.close()
            raise ApiError(500, f"listen tcp {self.listen}: {exc}") from None
        bound_host, bound_port = sock.getsockname()[:2]
        self._bound = (bound_host, bound_port)
        self.listen = format_host_port(bound_host, bound_port)
        self.enabled = True

    def _accept(self) -> Any:
        conn = Connection(self, self._rng)
        self.connections.add(conn)
        return conn.client

    def forget(self, conn: Connection) -> None:
        self.connections.discard(conn)

    async def stop(self) -> None:
        """Close the listener (before returning) and abort every connection."""
        server, self._server = self._server, None
        self.enabled = False
        if server is not None:
            server.close()
            await asyncio.sleep(0)  # uvloop closes listening handles on the next iteration
        for conn in list(self.connections):
            conn.abort()
        self.connections.clear()

    async def listen_changes(self, new_listen: str) -> bool:
        """Whether ``new_listen`` names another address than the current one (after resolving)."""
        if new_listen == self.listen:
            return False
        try:
            new = await resolve_listen(new_listen)
            current = self._bound if self._bound is not None else await resolve_listen(self.listen)
        except ListenError:
            return True
        return new != current

    async def update(self, listen: str, upstream: str, enabled: bool) -> None:
        """Apply an update: a changed address restarts; ``enabled`` starts or stops."""
        if await self.listen_changes(listen) or upstream != self.upstream:
            was_enabled = self.enabled
            await self.stop()
            self.listen, self.upstream = listen, upstream
            self._bound = None
            if was_enabled and enabled:
                await self.start()
        if enabled and not self.enabled:
            await self.start()
        elif not enabled and self.enabled:
            await self.stop()

    # -- toxics ---------------------------------------------------------------------------

    def _links(self, stream: str) -> list[Any]:
        return [conn.link_for(stream) for conn in list(self.connections)]

    async def add_toxic(self, toxic: Toxic) -> None:
        self.toxics.append(toxic)
        await asyncio.gather(*(link.add_toxic(toxic) for link in self._links(toxic.stream)))

    async def update_toxic(self, toxic: Toxic) -> None:
        self.toxics = [toxic if t.name == toxic.name else t for t in self.toxics]
        await asyncio.gather(*(link.update_toxic(toxic) for link in self._links(toxic.stream)))

    async def remove_toxic(self, name: str) -> None:
        toxic = self.find_toxic(name)
        if toxic is None:
            return
        self.toxics = [t for t in self.toxics if t.name != name]
        await asyncio.gather(*(link.remove_toxic(name) for link in self._links(toxic.stream)))

    async def remove_all_toxics(self) -> None:
        for toxic in list(self.toxics):
            await self.remove_toxic(toxic.name)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
