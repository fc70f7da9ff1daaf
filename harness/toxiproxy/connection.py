"""One accepted client: its socket, the dialled upstream socket and the two links between them.

The client is accepted first and its reading paused while the upstream is
dialled (as Toxiproxy does: a failed dial closes the accepted client). Each
socket is a :class:`Side` protocol; reading is paused for named reasons
(``dial``; ``dest`` when the other socket's write buffer is full; ``chain`` when
the toxic chain's head queue is full) and resumes when no reason is left.
End of stream on one side runs through its link and closes the other side
once everything before it was written; the connection is done when both
sockets are gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
from typing import Protocol, cast

from harness.toxiproxy.address import split_host_port
from harness.toxiproxy.link import Link
from harness.toxiproxy.toxics import Toxic

__all__ = ["Connection", "ConnectionOwner", "Side"]

CONNECT_TIMEOUT_S = 5.0
_LINGER_ZERO = struct.pack("ii", 1, 0)


class ConnectionOwner(Protocol):
    """What a connection needs from its proxy."""

    upstream: str

    def toxics_for(self, stream: str) -> list[Toxic]: ...

    def counters_for(self, stream: str) -> list[int]: ...

    def forget(self, conn: Connection) -> None: ...


class Side(asyncio.Protocol):
    """One socket of a connection, as an asyncio protocol and as a link endpoint."""

    def __init__(self, conn: Connection, role: str) -> None:
        self.conn = conn
        self.role = role
        self.link: Link | None = None  # the link this socket feeds
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._close_requested = False
        self._pause_reasons: set[str] = set()
        self._write_paused = False
        self._drain_waiters: list[asyncio.Future[None]] = []
        self._pending: list[bytes] = []  # written before the socket exists (the dial)

    # -- asyncio.Protocol ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        transport = self.transport
        if self._pause_reasons:
            transport.pause_reading()
        if self._pending:
            transport.writelines(self._pending)
            self._pending.clear()
        if self._close_requested or self.closed:
            transport.close()
        elif self.role == "client":
            self.conn.client_connected()

    def data_received(self, data: bytes) -> None:
        if self.link is not None:
            self.link.feed(data)

    def eof_received(self) -> bool:
        if self.link is not None:
            self.link.feed_eof()
        return True  # keep writing: the other direction may still have bytes for this socket

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._wake_drain()
        if self.link is not None:
            self.link.feed_eof()
        self.conn.side_lost()

    def pause_writing(self) -> None:
        self._write_paused = True
        self.conn.other(self).set_paused("dest", True)

    def resume_writing(self) -> None:
        self._write_paused = False
        self._wake_drain()
        self.conn.other(self).set_paused("dest", False)

    # -- Endpoint -----------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        transport = self.transport
        if transport is None:
            if not self.closed:
                self._pending.append(data)  # uvloop may deliver client data before the dial ends
        elif not self.closed and not transport.is_closing():
            transport.write(data)

    def close(self) -> None:
        """Close after the write buffer is flushed."""
        self._close_requested = True
        if self.transport is not None:
            self.transport.close()

    def abort(self, linger_zero: bool = False) -> None:
        """Close at once; with ``linger_zero`` the peer gets a RST."""
        self._close_requested = True
        transport = self.transport
        if transport is None:
            self.closed = True
            return
        if linger_zero:
            sock = transport.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_ZERO)
        transport.abort()

    async def drained(self) -> None:
        while self._write_paused and not self.closed:
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._drain_waiters.append(fut)
            await fut

    def set_paused(self, reason: str, paused: bool) -> None:
        before = bool(self._pause_reasons)
        if paused:
            self._pause_reasons.add(reason)
        else:
            self._pause_reasons.discard(reason)
        after = bool(self._pause_reasons)
        transport = self.transport
        if transport is None or before == after or self.closed or transport.is_closing():
            return
        if after:
            transport.pause_reading()
        else:
            transport.resume_reading()

    def _wake_drain(self) -> None:
        waiters, self._drain_waiters = self._drain_waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)


class Connection:
    """A client socket, its upstream socket, and the ``upstream``/``downstream`` links."""

    def __init__(self, owner: ConnectionOwner, rng: random.Random) -> None:
        self.owner = owner
        self.client = Side(self, "client")
        self.server = Side(self, "upstream")
        self.up = Link("upstream", self.client, self.server, rng, self.reset,
                       owner.counters_for("upstream"))
        self.down = Link("downstream", self.server, self.client, rng, self.reset,
                         owner.counters_for("downstream"))
        self.client.link, self.server.link = self.up, self.down
        self.client.set_paused("dial", True)
        self._dial_task: asyncio.Task[None] | None = None
        self._done = False

    def other(self, side: Side) -> Side:
        return self.server if side is self.client else self.client

    def link_for(self, stream: str) -> Link:
        return self.up if stream == "upstream" else self.down

    def client_connected(self) -> None:
        """The accepted socket is ready: build the chains and dial the upstream."""
        self.up.start(self.owner.toxics_for("upstream"))
        self.down.start(self.owner.toxics_for("downstream"))
        self._dial_task = asyncio.get_running_loop().create_task(self._dial())

    async def _dial(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            host, port = split_host_port(self.owner.upstream)
            await asyncio.wait_for(
                loop.create_connection(lambda: self.server, host, port), CONNECT_TIMEOUT_S
            )
        except (OSError, ValueError, TimeoutError, UnicodeError):
            self.server.closed = True
            self.client.close()  # accepted, then closed: the client sees EOF
            return
        self.client.set_paused("dial", False)

    def side_lost(self) -> None:
        """A socket is gone; when both are (or the upstream never came), end the connection."""
        client_gone = self.client.closed
        server_gone = self.server.closed or self.server.transport is None
        if client_gone and server_gone and (self._dial_task is None or self._dial_task.done()):
            self._end()
        elif client_gone and self._dial_task is not None and not self._dial_task.done():
            self._dial_task.cancel()
            self.server.closed = True
            self._end()

    def reset(self) -> None:
        """Abort both sockets with SO_LINGER 0: each peer sees ECONNRESET."""
        self.client.abort(linger_zero=True)
        self.server.abort(linger_zero=True)

    def abort(self) -> None:
        """Close both sockets at once (proxy disabled, deleted or restarted)."""
        if self._dial_task is not None:
            self._dial_task.cancel()
        self.client.abort()
        self.server.abort()
        self._end()

    def _end(self) -> None:
        if self._done:
            return
        self._done = True
        self.up.cancel_tasks()
        self.down.cancel_tasks()
        self.owner.forget(self)
