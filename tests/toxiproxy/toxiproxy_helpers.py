"""Real-socket helpers for the proxy tests: an echo upstream, a scripted upstream, and
bounded reads. Threads, not asyncio, so the tests drive the proxy the way a client does."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator

import httpx

__all__ = ["EchoServer", "ScriptServer", "connect", "read_exactly", "read_until_eof", "wait_closed"]


class ScriptServer:
    """A TCP server on 127.0.0.1:0 that runs ``handler(conn)`` in a thread per connection."""

    def __init__(self, handler: Callable[[socket.socket], None]) -> None:
        self.handler = handler
        self.sock = socket.create_server(("127.0.0.1", 0), backlog=512)
        self.port = self.sock.getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"
        self.accepted = 0
        self._stop = False
        self._conns: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()

    def _accept_loop(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            self._conns.append(conn)
            threading.Thread(target=self._run, args=(conn,), daemon=True).start()

    def _run(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError), conn:
            self.handler(conn)

    def close(self) -> None:
        self._stop = True
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        for conn in self._conns:
            with contextlib.suppress(OSError):
                conn.close()
        self._thread.join(timeout=2)


def _echo(conn: socket.socket) -> None:
    while True:
        data = conn.recv(65536)
        if not data:
            return
        conn.sendall(data)


class EchoServer(ScriptServer):
    """Echoes every byte back; closes when the client does."""

    def __init__(self) -> None:
        super().__init__(_echo)


def connect(listen: str, timeout: float = 5.0) -> socket.socket:
    host, _, port = listen.rpartition(":")
    sock = socket.create_connection((host.strip("[]"), int(port)), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def read_exactly(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        data = sock.recv(n - len(buf))
        if not data:
            raise EOFError(f"EOF after {len(buf)} of {n} bytes")
        buf += data
    return bytes(buf)


def read_until_eof(sock: socket.socket, limit: int = 1 << 24) -> bytes:
    buf = bytearray()
    while len(buf) < limit:
        data = sock.recv(65536)
        if not data:
            return bytes(buf)
        buf += data
    return bytes(buf)


def port_open(listen: str) -> bool:
    try:
        connect(listen, timeout=1.0).close()
    except OSError:
        return False
    return True


def wait_closed(sock: socket.socket, timeout: float) -> float:
    """Seconds until ``sock`` reads EOF (or a reset); raises AssertionError after ``timeout``."""
    start = time.monotonic()
    sock.settimeout(timeout)
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        pass
    except TimeoutError:
        raise AssertionError(f"socket still open after {timeout}s") from None
    return time.monotonic() - start


@contextlib.contextmanager
def api_client(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=10.0, headers={"User-Agent": "tests"}) as client:
        yield client
