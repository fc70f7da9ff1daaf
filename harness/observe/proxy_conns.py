"""Which Postgres backends are the service's: the ones the fault proxy opened.

Every connection of the service under test reaches Postgres through the proxy,
so a backend is the service's exactly when its ``(client_addr, client_port)`` in
``pg_stat_activity`` is the local end of one of the proxy process' TCP sockets
to Postgres. That holds whatever the service calls itself (``application_name``
is the service's choice, and most services never set it).

:func:`proxy_upstream_sockets` lists those local ends with psutil, for the
proxy's pid and its descendants. It reads ``/proc`` (on Linux every call scans
the host's TCP tables), so the caller runs it in a worker thread under a timeout.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable

import psutil

__all__ = ["ClientSocket", "normalize_addr", "proxy_sockets_getter", "proxy_upstream_sockets",
           "resolve_host", "split_hostport"]

#: A connection's client end as Postgres sees it: (address, port).
ClientSocket = tuple[str, int]


def normalize_addr(addr: str) -> str:
    """One spelling per address: ``::ffff:127.0.0.1`` -> ``127.0.0.1``, IPv6 compressed;
    anything that is not an IP address is returned unchanged."""
    try:
        ip = ipaddress.ip_address(addr.split("%", 1)[0])
    except ValueError:
        return addr
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


def split_hostport(hostport: str) -> tuple[str, int]:
    """``"127.0.0.1:5432"`` / ``"[::1]:5432"`` -> (host, port)."""
    host, sep, port = hostport.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"not host:port: {hostport!r}")
    return host.strip("[]"), int(port)


def resolve_host(host: str) -> frozenset[str]:
    """Every address ``host`` names (normalized); a literal address is itself. Raises
    ``OSError`` when the name does not resolve (nothing to match is not "none matched")."""
    if _is_ip(host.split("%", 1)[0]):
        return frozenset({normalize_addr(host)})
    infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    found = frozenset(normalize_addr(str(info[4][0])) for info in infos)
    if not found:
        raise OSError(f"{host!r} resolves to no address")
    return found


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _processes(pid: int, children: bool) -> Iterable[psutil.Process]:
    proc = psutil.Process(pid)  # NoSuchProcess / AccessDenied propagate: count unknown
    yield proc
    if children:
        yield from proc.children(recursive=True)


def proxy_upstream_sockets(
    pid: int, upstream: str, *, children: bool = True,
    upstream_addrs: frozenset[str] | None = None,
) -> set[ClientSocket]:
    """The local ``(address, port)`` of every TCP socket of process ``pid`` (and, with
    ``children``, its descendants) whose remote end is ``upstream`` (``host:port`` of
    Postgres, as the proxy was told to forward to).

    Raises ``psutil.Error`` (no such process, access denied) when the proxy cannot be
    read: then the count is unknown, which is not the same as zero. A descendant that
    exits while it is read is skipped. ``upstream_addrs`` saves a name lookup per call.
    """
    host, port = split_hostport(upstream)
    addrs = upstream_addrs if upstream_addrs is not None else resolve_host(host)
    found: set[ClientSocket] = set()
    for proc in _processes(pid, children):
        try:
            conns = proc.net_connections(kind="tcp")
        except psutil.NoSuchProcess:
            if proc.pid == pid:
                raise
            continue
        for conn in conns:
            raddr = conn.raddr
            if not raddr or raddr.port != port or normalize_addr(raddr.ip) not in addrs:
                continue
            found.add((normalize_addr(conn.laddr.ip), int(conn.laddr.port)))
    return found


def proxy_sockets_getter(
    proxy_pid: Callable[[], int | None] | None, upstream: str | None,
) -> Callable[[], set[ClientSocket] | None] | None:
    """A no-argument callable for :class:`~harness.observe.pg_activity.PgActivitySampler`:
    the proxy's client sockets to ``upstream`` now, or ``None`` while ``proxy_pid()`` knows
    no pid (then the sampler falls back to ``application_name``). It raises when the proxy
    cannot be read (or ``upstream`` is no ``host:port``): that count is unknown. ``None``
    (no callable) without a pid getter or an upstream. ``proxy_pid`` is re-read on every
    call: the proxy could be restarted."""
    if proxy_pid is None or not upstream:
        return None
    resolved: list[frozenset[str]] = []  # looked up once, on the first call (a worker thread)

    def sockets() -> set[ClientSocket] | None:
        try:
            pid = proxy_pid()
        except Exception:  # noqa: BLE001 - a broken getter counts as "no pid known"
            pid = None
        if pid is None:
            return None
        if not resolved:
            resolved.append(resolve_host(split_hostport(upstream)[0]))
        return proxy_upstream_sockets(pid, upstream, upstream_addrs=resolved[0])

    return sockets
