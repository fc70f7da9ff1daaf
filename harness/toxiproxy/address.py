"""``host:port`` parsing, bounded name resolution and binding, with Go's messages.

Listen addresses are resolved to one IP (``localhost`` and an empty host mean
127.0.0.1: the embedded server never listens beyond loopback unless told an
address) and bound on a socket we create, so a bind failure can be reported as
Go reports it (``listen tcp 127.0.0.1:6432: bind: address already in use``).
Name lookups are bounded, so a slow resolver cannot hang an API call.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import os
import socket

__all__ = [
    "ListenError",
    "bind_listener",
    "format_host_port",
    "resolve_listen",
    "split_host_port",
]

RESOLVE_TIMEOUT_S = 2.0


class ListenError(Exception):
    """A listen address that cannot be parsed, resolved or bound (the API answers 500)."""


def split_host_port(text: str) -> tuple[str, int]:
    """``host:port`` or ``[v6]:port`` -> (host, port); ``ValueError`` with Go's wording."""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ValueError(f"address {text}: missing ']' in address")
        host, rest = text[1:end], text[end + 1 :]
        if not rest.startswith(":"):
            raise ValueError(f"address {text}: missing port in address")
        port_text = rest[1:]
    else:
        host, sep, port_text = text.rpartition(":")
        if not sep:
            raise ValueError(f"address {text}: missing port in address")
        if ":" in host:
            raise ValueError(f"address {text}: too many colons in address")
    if port_text == "":
        return host, 0
    if not port_text.isascii() or not port_text.isdigit() or int(port_text) > 65535:
        raise ValueError(f"address {text}: invalid port")
    return host, int(port_text)


def format_host_port(host: str, port: int) -> str:
    """``127.0.0.1:80`` / ``[::1]:80``."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


async def resolve_listen(text: str) -> tuple[str, int]:
    """The (ip, port) a listen text binds; ``ListenError`` (Go's message) when it cannot.
    An empty text binds a free loopback port."""
    if text == "":
        return "127.0.0.1", 0
    try:
        host, port = split_host_port(text)
    except ValueError as exc:
        raise ListenError(f"listen tcp: {exc}") from None
    if host in ("", "localhost"):
        return "127.0.0.1", port
    if _is_ip(host):
        return host, port
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), RESOLVE_TIMEOUT_S
        )
    except (OSError, TimeoutError, UnicodeError, ValueError) as exc:
        raise ListenError(f"listen tcp: lookup {host}: {exc or 'timed out'}") from None
    infos.sort(key=lambda info: info[0] != socket.AF_INET)
    if not infos:
        raise ListenError(f"listen tcp: lookup {host}: no such host")
    return str(infos[0][4][0]), port


def bind_listener(host: str, port: int, backlog: int = 1024) -> socket.socket:
    """A listening, non-blocking TCP socket on (host, port), SO_REUSEADDR as Go sets it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((host, port))
        sock.listen(backlog)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        reason = os.strerror(exc.errno).lower() if exc.errno else str(exc)
        if exc.errno == errno.EADDRINUSE:
            reason = "address already in use"
        where = format_host_port(host, port)
        raise ListenError(f"listen tcp {where}: bind: {reason}") from None
    except (OverflowError, ValueError, UnicodeError) as exc:
        sock.close()
        raise ListenError(f"listen tcp {format_host_port(host, port)}: {exc}") from None
    return sock
