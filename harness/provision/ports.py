"""A free loopback port, for the servers that cannot be handed a bound socket.

Postgres and ``toxiproxy-server`` take a port number, not a socket, so the port
is picked by the kernel, released and passed on; a start that then fails to bind
(another process took it in between) is retried by the caller on a new port.
Servers that can report the port they bound (the app, the embedded proxy) are
started on port 0 instead.
"""

from __future__ import annotations

import socket

__all__ = ["free_port"]


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free on ``host`` a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])
